"""Small helpers with no project imports: JSON encoding, time, logging."""
