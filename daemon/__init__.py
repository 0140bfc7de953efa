"""The seismowatch command line and (from issue 3 on) the Faust streaming application."""
