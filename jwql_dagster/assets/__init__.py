"""Asset groups, one module each: previews, filesystem, mast, monitoring."""
