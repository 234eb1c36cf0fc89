"""The msi-sync command line."""
