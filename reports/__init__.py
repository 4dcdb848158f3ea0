"""What comes out of a search: the results table and the files made from it."""
