"""Sensors: new_fits_files, program_products, run_failures."""
