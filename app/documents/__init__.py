"""Documents: accepting an upload, and what may be done to a document afterwards."""
