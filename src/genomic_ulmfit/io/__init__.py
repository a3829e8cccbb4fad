"""File input and output shared by every stage."""
