"""Organizations and their members: which organization a request works in, who may do
what there, and switching between organizations."""
