"""Bulk imports: reading CSV files into plain rows, and reading many streams at once."""
