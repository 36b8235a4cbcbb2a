# Type stubs for the parts of crhelper 2.0.12 that jobjanitor uses (crhelper ships none).

from .resource_helper import FAILED as FAILED
from .resource_helper import SUCCESS as SUCCESS
from .resource_helper import CfnResource as CfnResource
