"""The tables the emulator knows, declared once.

`asyncoperation` carries every Web API property of the Dataverse reference; the other tables
carry what `$expand`, lookups and formatted values need (the ones a system job points to are in
`related.py`, the column builders in `columns.py`). The SQL schema, the binder, the serializer and
`$metadata` are all derived from these declarations.
"""

from __future__ import annotations

from . import optionsets as os_
from .columns import CU, CW, U, audit_columns, boolean, datetime_, guid, hidden, integer, lookup, memo, string
from .files import FILEATTACHMENT
from .registration import (
    PLUGINTYPE,
    SDKMESSAGE,
    SDKMESSAGEFILTER,
    SDKMESSAGEPROCESSINGSTEP,
    SDKMESSAGEPROCESSINGSTEPIMAGE,
    SERVICEENDPOINT,
)
from .related import ACCOUNT, BUSINESSUNIT, CONTACT, SYSTEMUSER, TEAM, WORKFLOW
from .types import Attribute, Entity, EntityModel, ManyToOne, OneToMany
from .types import AttributeType as T

# Tables that a system job can be "regarding" in this emulator (Dataverse has ~390).
REGARDING_TARGETS = ("account", "contact", "systemuser", "team", "businessunit", "workflow")
_REGARDING_SCHEMA = {
    "account": "Account",
    "contact": "Contact",
    "systemuser": "SystemUser",
    "team": "Team",
    "businessunit": "BusinessUnit",
    "workflow": "Workflow",
}

ASYNCOPERATION = Entity(
    logical_name="asyncoperation",
    schema_name="AsyncOperation",
    entity_set="asyncoperations",
    primary_id="asyncoperationid",
    primary_name="name",
    display_name="System Job",
    display_collection_name="System Jobs",
    object_type_code=4700,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e01",
    description="Process whose execution can proceed independently or in the background.",
    attributes=(
        guid("asyncoperationid", description="Unique identifier of the system job.", required=True, **CW),
        guid("breadcrumbid", description="The breadcrumb record ID.", **CW),
        string("callerorigin", 256, description="The origin of the caller.", **CW),
        datetime_("completedon", description="Date and time when the system job was completed."),
        guid("correlationid", description="Unique identifier used to correlate between multiple SDK requests and system jobs.", required=True, **CW),
        datetime_("correlationupdatedtime", description="Last time the correlation depth was updated.", required=True, **CW),
        lookup("createdby", "systemuser", description="Unique identifier of the user who created the system job.", required=True),
        datetime_("createdon", description="Date and time when the system job was created."),
        lookup("createdonbehalfby", "systemuser", description="Unique identifier of the delegate user who created the asyncoperation."),
        memo("data", description="Unstructured data associated with the system job.", **CU),
        guid("datablobid", description="File Id for the blob url used for file storage."),
        string("datablobid_name", 200, description="Name of the file stored in datablobid.", in_webapi=False),
        string("dependencytoken", 256, description="Execution of all operations with the same dependency token is serialized.", **CW),
        integer("depth", 0, 2147483647, description="Number of SDK calls made since the first call.", required=True, **CW),
        integer("errorcode", description="Error code returned from a canceled system job."),
        Attribute("executiontimespan", T.DOUBLE, min_value=0, max_value=1_000_000_000, precision=2,
                  description="Time that the system job has taken to execute.", required=True),
        datetime_("expanderstarttime", description="The datetime when the Expander pipeline started.", **CW),
        memo("friendlymessage", 100_000, description="Message provided by the system job.", **U),
        string("hostid", 256, description="Unique identifier of the host that owns this system job.", **CW),
        boolean("iswaitingforevent", description="Indicates that the system job is waiting for an event."),
        memo("message", 100_000, description="Message related to the system job."),
        string("messagename", 160, description="Name of the message that started this system job.", **CW),
        lookup("modifiedby", "systemuser", description="Unique identifier of the user who last modified the system job.", required=True),
        datetime_("modifiedon", description="Date and time when the system job was last modified."),
        lookup("modifiedonbehalfby", "systemuser", description="Unique identifier of the delegate user who last modified the asyncoperation."),
        string("name", 256, description="Name of the system job.", display_name="System Job Name", **CW),
        Attribute("operationtype", T.PICKLIST, option_set=os_.OPERATION_TYPE,
                  description="Type of the system job.", display_name="System Job Type", **CW),
        Attribute("ownerid", T.OWNER, targets=("systemuser", "team"), type_column="owneridtype",
                  description="Unique identifier of the user or team who owns the system job.", required=True, **CW),
        hidden("owneridtype", **CW),
        lookup("owningbusinessunit", "businessunit", description="Unique identifier of the business unit that owns the system job."),
        lookup("owningextensionid", "sdkmessageprocessingstep", type_column="owningextensiontypecode",
               description="Unique identifier of the owning extension with which the system job is associated.", **CW),
        hidden("owningextensiontypecode", **CW),
        lookup("owningteam", "team", description="Unique identifier of the team who owns the record."),
        lookup("owninguser", "systemuser", description="Unique identifier of the user who owns the record."),
        guid("parentpluginexecutionid", description="The parent plugin execution ID.", **CW),
        datetime_("postponeuntil", description="Indicates whether the system job should run only after the specified date and time.", **CU),
        Attribute("primaryentitytype", T.ENTITYNAME, description="Type of entity with which the system job is primarily associated.", **CW),
        string("recurrencepattern", 256, description="Pattern of the system job's recurrence.", **CU),
        datetime_("recurrencestarttime", date_only=True, description="Starting time in UTC for the recurrence pattern.", **CU),
        lookup("regardingobjectid", *REGARDING_TARGETS, type_column="regardingobjecttypecode",
               description="Unique identifier of the object with which the system job is associated.", **CW),
        hidden("regardingobjecttypecode", **CW),
        guid("requestid", description="Unique identifier of the request that generated the system job.", **CW),
        boolean("retainjobhistory", description="Retain job history.", **CW),
        integer("retrycount", 0, 2147483647, description="Number of times to retry the system job."),
        memo("rootexecutioncontext", description="Root execution context of the job that trigerred async job.", **CU),
        Attribute("sequence", T.BIGINT, min_value=-9223372036854775808, max_value=9223372036854775807,
                  description="Order in which operations were submitted.", required=True),
        datetime_("startedon", description="Date and time when the system job was started."),
        Attribute("statecode", T.STATE, option_set=os_.ASYNC_STATE, description="Status of the system job.",
                  display_name="Status", required=True, **U),
        Attribute("statuscode", T.STATUS, option_set=os_.ASYNC_STATUS, description="Reason for the status of the system job.",
                  display_name="Status Reason", **U),
        integer("subtype", 0, 255, description="The Subtype of the Async Job"),
        integer("timezoneruleversionnumber", -1, 2147483647, description="For internal use only.", **CW),
        integer("utcconversiontimezonecode", -1, 2147483647, description="Time zone code that was in use when the record was created.", **CW),
        lookup("workflowactivationid", "workflow", description="Unique identifier of the workflow activation related to the system job.", **CW),
        boolean("workflowisblocked", description="Indicates whether the workflow instance was blocked when it was persisted.", valid_for_read=False),
        string("workflowstagename", 256, description="Name of a workflow stage."),
        memo("workflowstate", description="State of the workflow job.", valid_for_read=False),
        string("workload", 256, description="The workload name.", **CW),
        hidden("versionnumber", T.BIGINT),
        # The emulator's own: until when the instance that locked the job holds it (epoch seconds).
        hidden("leaseexpires", T.INTEGER, emulator_only=True),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "lk_asyncoperation_createdby", "lk_asyncoperation_createdby"),
        ManyToOne("createdonbehalfby", "createdonbehalfby", "systemuser", "lk_asyncoperation_createdonbehalfby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_asyncoperation_modifiedby"),
        ManyToOne("modifiedonbehalfby", "modifiedonbehalfby", "systemuser", "lk_asyncoperation_modifiedonbehalfby"),
        ManyToOne("owningbusinessunit", "owningbusinessunit", "businessunit", "business_unit_asyncoperation", "business_unit_asyncoperation"),
        ManyToOne("owningteam", "owningteam", "team", "team_asyncoperation", "team_asyncoperation"),
        ManyToOne("owninguser", "owninguser", "systemuser", "system_user_asyncoperation", "system_user_asyncoperation"),
        ManyToOne("owningextensionid", "owningextensionid", "sdkmessageprocessingstep",
                  "SdkMessageProcessingStep_AsyncOperations", "SdkMessageProcessingStep_AsyncOperations"),
        ManyToOne("workflowactivationid", "workflowactivationid", "workflow",
                  "lk_asyncoperation_workflowactivationid", "lk_asyncoperation_workflowactivationid"),
        *(
            ManyToOne(f"regardingobjectid_{t}", "regardingobjectid", t, f"{_REGARDING_SCHEMA[t]}_AsyncOperations",
                      f"{_REGARDING_SCHEMA[t]}_AsyncOperations")
            for t in REGARDING_TARGETS
        ),
    ),
    one_to_many=(
        OneToMany("AsyncOperation_BulkDeleteOperation", "bulkdeleteoperation", "asyncoperationid",
                  "AsyncOperation_BulkDeleteOperation"),
    ),
)

BULKDELETEOPERATION = Entity(
    logical_name="bulkdeleteoperation",
    schema_name="BulkDeleteOperation",
    entity_set="bulkdeleteoperations",
    primary_id="bulkdeleteoperationid",
    primary_name="name",
    display_name="Bulk Delete Operation",
    display_collection_name="Bulk Delete Operations",
    object_type_code=4424,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e09",
    ownership="None",
    attributes=(
        guid("bulkdeleteoperationid", description="Unique identifier of the bulk delete operation."),
        string("name", 256, description="Name of the system job.", display_name="System Job Name"),
        lookup("asyncoperationid", "asyncoperation", description="Unique identifier of the system job that created this record."),
        integer("successcount", 0, 1_000_000_000, description="Number of records deleted.", display_name="Deleted"),
        integer("failurecount", 0, 1_000_000_000, description="Number of records not deleted.", display_name="Failures"),
        boolean("isrecurring", description="Indication of whether the bulk delete operation is recurring."),
        datetime_("nextrun", description="Next time the bulk delete operation runs."),
        memo("orderedquerysetxml", description="Query (FetchXML) of the records to delete."),
        integer("processingqeindex", description="Index of the query expression currently being processed."),
        Attribute("statecode", T.STATE, option_set=os_.BULKDELETE_STATE, description="Status of the bulk delete operation."),
        Attribute("statuscode", T.STATUS, option_set=os_.BULKDELETE_STATUS, description="Reason for the status of the bulk delete operation."),
        Attribute("ownerid", T.OWNER, targets=("systemuser", "team"), type_column="owneridtype",
                  description="Unique identifier of the user or team who owns the bulk delete operation."),
        hidden("owneridtype"),
        lookup("owningbusinessunit", "businessunit", description="Unique identifier of the business unit that owns the bulk delete operation."),
        lookup("owninguser", "systemuser", description="Unique identifier of the user who owns the bulk delete operation."),
        *audit_columns("bulk delete operation"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("asyncoperationid", "asyncoperationid", "asyncoperation", "AsyncOperation_BulkDeleteOperation",
                  "AsyncOperation_BulkDeleteOperation"),
        ManyToOne("createdby", "createdby", "systemuser", "lk_bulkdeleteoperation_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_bulkdeleteoperation_modifiedby"),
        ManyToOne("owningbusinessunit", "owningbusinessunit", "businessunit", "business_unit_bulkdeleteoperation"),
        ManyToOne("owninguser", "owninguser", "systemuser", "system_user_bulkdeleteoperation"),
    ),
)

# EntityDefinitions: the metadata Web API, as far as client SDKs need it. Its rows are derived
# from this model when the store is created.
ENTITY_METADATA = Entity(
    logical_name="EntityMetadata",
    schema_name="EntityMetadata",
    entity_set="EntityDefinitions",
    primary_id="MetadataId",
    primary_name="LogicalName",
    display_name="Entity Metadata",
    display_collection_name="Entity Definitions",
    base_type="MetadataBase",
    has_row_version=False,
    is_metadata=True,
    ownership="None",
    attributes=(
        guid("MetadataId"),
        string("LogicalName", 64),
        string("SchemaName", 64),
        string("EntitySetName", 64),
        string("LogicalCollectionName", 64),
        string("CollectionSchemaName", 64),
        string("PrimaryIdAttribute", 64),
        string("PrimaryNameAttribute", 64),
        integer("ObjectTypeCode"),
        string("OwnershipType", 32),
        string("TableType", 32),
        boolean("IsCustomEntity"),
        boolean("IsActivity"),
        boolean("IsIntersect"),
        boolean("IsPrivate"),
        boolean("IsManaged"),
        boolean("IsLogicalEntity"),
        boolean("IsValidForAdvancedFind"),
        boolean("IsChildEntity"),
        boolean("HasActivities"),
        boolean("HasNotes"),
        string("IntroducedVersion", 48),
    ),
)

MODEL = EntityModel(
    entities=(
        ASYNCOPERATION,
        BULKDELETEOPERATION,
        BUSINESSUNIT,
        SYSTEMUSER,
        TEAM,
        SDKMESSAGEPROCESSINGSTEP,
        WORKFLOW,
        ACCOUNT,
        CONTACT,
        SDKMESSAGE,
        SDKMESSAGEFILTER,
        PLUGINTYPE,
        SERVICEENDPOINT,
        SDKMESSAGEPROCESSINGSTEPIMAGE,
        FILEATTACHMENT,
        ENTITY_METADATA,
    )
)
