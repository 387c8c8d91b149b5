"""Analysis of search results against benchmark tables."""
