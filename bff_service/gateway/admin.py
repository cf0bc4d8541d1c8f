"""Nothing of the BFF's own to administer; eventkit registers the feed's checkpoints."""
