"""End-of-day reports per portfolio and for the desk: frozen at each session's close with a content hash,
versioned on regeneration, pruned past the retention; shown as a page, a CSV and a PDF."""
