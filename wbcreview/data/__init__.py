"""Reading a copy of the release: source, catalog, queries, images, health."""
