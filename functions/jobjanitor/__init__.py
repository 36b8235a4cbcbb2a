"""jobjanitor: stop Neptune ML, Neptune bulk-loader and Glue ML jobs before their stack goes."""

__version__ = "0.1.0"
