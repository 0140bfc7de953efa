"""The seismowatch command line and the Faust streaming application."""
