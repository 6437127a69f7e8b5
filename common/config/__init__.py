"""Channel configuration: the domain view of a channel's config block, and genesis."""
