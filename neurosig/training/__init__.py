"""Lightning glue: thin LightningModules, the shard-store DataModule, callbacks."""
