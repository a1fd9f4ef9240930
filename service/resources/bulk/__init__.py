"""Many items at once: delete, tag."""
