"""The entity model, declared once. Imports nothing else of the project."""

from .entities import MODEL
from .optionsets import PLATFORM_MAINTENANCE_TYPES
from .types import (
    Attribute,
    AttributeType,
    BooleanLabels,
    Entity,
    EntityModel,
    ManyToOne,
    OneToMany,
    Option,
    OptionSet,
)

__all__ = [
    "MODEL",
    "PLATFORM_MAINTENANCE_TYPES",
    "Attribute",
    "AttributeType",
    "BooleanLabels",
    "Entity",
    "EntityModel",
    "ManyToOne",
    "OneToMany",
    "Option",
    "OptionSet",
]
