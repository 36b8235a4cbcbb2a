pytest_plugins = ["jobjanitor_testbed.pytest_plugin"]
