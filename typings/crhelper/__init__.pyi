# Type stubs for the parts of crhelper 2.0.12 that jobjanitor uses (crhelper ships none).

from .resource_helper import FAILED as FAILED, SUCCESS as SUCCESS, CfnResource as CfnResource
