# test/streamer is a package so that its conftest.py does not take the module
# name "conftest" from the other suites (they import helpers from theirs).
