"""The Inception family in one namespace (what the factory and user code import as `nets.inception`)."""
# pylint: disable=unused-import
from nets.inception_utils import inception_arg_scope
from nets.inception_v1 import inception_v1
from nets.inception_v1 import inception_v1_arg_scope
from nets.inception_v1 import inception_v1_base

# Every Inception network was published with the same layer defaults; the factory (like the
# original) uses this name for V1, V2 and V3 alike.
inception_v3_arg_scope = inception_arg_scope
