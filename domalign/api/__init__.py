"""HTTP layer: validation, one call into the workflow layer, response mapping. No SQL, no ML."""
