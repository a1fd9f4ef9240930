"""Similar items, near-duplicates and the dataset map."""
