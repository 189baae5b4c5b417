"""The tables the emulator knows, declared once.

`asyncoperation` carries every Web API property of the Dataverse reference; the other tables
carry what `$expand`, lookups and formatted values need. The SQL schema, the binder, the
serializer and `$metadata` are all derived from these declarations.
"""

from __future__ import annotations

from . import optionsets as os_
from .types import Attribute, AttributeType as T, Entity, EntityModel, ManyToOne, OneToMany

MAX_MEMO = 1_073_741_823


def guid(name: str, **kw) -> Attribute:
    return Attribute(name, T.UNIQUEIDENTIFIER, **kw)


def string(name: str, max_length: int, **kw) -> Attribute:
    return Attribute(name, T.STRING, max_length=max_length, **kw)


def memo(name: str, max_length: int = MAX_MEMO, **kw) -> Attribute:
    return Attribute(name, T.MEMO, max_length=max_length, **kw)


def integer(name: str, min_value: int = -2147483648, max_value: int = 2147483647, **kw) -> Attribute:
    return Attribute(name, T.INTEGER, min_value=min_value, max_value=max_value, **kw)


def datetime_(name: str, **kw) -> Attribute:
    return Attribute(name, T.DATETIME, **kw)


def boolean(name: str, **kw) -> Attribute:
    return Attribute(name, T.BOOLEAN, boolean_labels=os_.YES_NO, **kw)


def lookup(name: str, *targets: str, type_column: str | None = None, **kw) -> Attribute:
    return Attribute(name, T.LOOKUP, targets=targets, type_column=type_column, **kw)


def hidden(name: str, kind: T = T.ENTITYNAME, **kw) -> Attribute:
    return Attribute(name, kind, in_webapi=False, **kw)


def audit_columns(logical: str) -> tuple[Attribute, ...]:
    """createdon/createdby/modifiedon/modifiedby, which every user table has."""
    return (
        datetime_("createdon", description=f"Date and time when the {logical} was created."),
        lookup("createdby", "systemuser", description="Unique identifier of the user who created the record.", required=True),
        datetime_("modifiedon", description=f"Date and time when the {logical} was last modified."),
        lookup("modifiedby", "systemuser", description="Unique identifier of the user who last modified the record.", required=True),
    )


CW = dict(valid_for_create=True)  # create-only
CU = dict(valid_for_create=True, valid_for_update=True)
U = dict(valid_for_update=True)

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
        hidden("leaseexpires", T.INTEGER),
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

BUSINESSUNIT = Entity(
    logical_name="businessunit",
    schema_name="BusinessUnit",
    entity_set="businessunits",
    primary_id="businessunitid",
    primary_name="name",
    display_name="Business Unit",
    display_collection_name="Business Units",
    object_type_code=10,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e02",
    ownership="BusinessOwned",
    attributes=(
        guid("businessunitid", description="Unique identifier of the business unit.", **CW),
        string("name", 160, description="Name of the business unit.", required=True, **CU),
        lookup("parentbusinessunitid", "businessunit", description="Unique identifier for the parent business unit.", **CU),
        string("divisionname", 100, description="Name of the division to which the business unit belongs.", **CU),
        boolean("isdisabled", description="Information about whether the business unit is enabled or disabled."),
        *audit_columns("business unit"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("parentbusinessunitid", "parentbusinessunitid", "businessunit", "business_unit_parent_business_unit"),
        ManyToOne("createdby", "createdby", "systemuser", "lk_businessunitbase_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_businessunitbase_modifiedby"),
    ),
    one_to_many=(
        OneToMany("business_unit_asyncoperation", "asyncoperation", "owningbusinessunit", "business_unit_asyncoperation"),
        OneToMany("business_unit_system_users", "systemuser", "businessunitid", "business_unit_system_users"),
        OneToMany("business_unit_teams", "team", "businessunitid", "business_unit_teams"),
        OneToMany("BusinessUnit_AsyncOperations", "asyncoperation", "regardingobjectid", "BusinessUnit_AsyncOperations"),
    ),
)

SYSTEMUSER = Entity(
    logical_name="systemuser",
    schema_name="SystemUser",
    entity_set="systemusers",
    primary_id="systemuserid",
    primary_name="fullname",
    display_name="User",
    display_collection_name="Users",
    object_type_code=8,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e03",
    base_type="principal",
    ownership="BusinessOwned",
    inherited_properties=(("ownerid", "systemuserid"),),
    attributes=(
        guid("systemuserid", description="Unique identifier for the user.", **CW),
        string("fullname", 200, description="Full name of the user."),
        string("firstname", 256, description="First name of the user.", **CU),
        string("lastname", 256, description="Last name of the user.", **CU),
        string("domainname", 1024, description="Active Directory domain of which the user is a member.", **CU),
        string("internalemailaddress", 100, description="Internal email address for the user.", **CU),
        guid("azureactivedirectoryobjectid", description="The object ID of the user in Microsoft Entra ID.", **CW),
        lookup("businessunitid", "businessunit", description="Unique identifier of the business unit with which the user is associated.", required=True, **CU),
        boolean("isdisabled", description="Information about whether the user is enabled."),
        *audit_columns("user"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("businessunitid", "businessunitid", "businessunit", "business_unit_system_users", "business_unit_system_users"),
        ManyToOne("createdby", "createdby", "systemuser", "lk_systemuserbase_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_systemuserbase_modifiedby"),
    ),
    one_to_many=(
        OneToMany("system_user_asyncoperation", "asyncoperation", "owninguser", "system_user_asyncoperation"),
        OneToMany("lk_asyncoperation_createdby", "asyncoperation", "createdby", "lk_asyncoperation_createdby"),
        OneToMany("SystemUser_AsyncOperations", "asyncoperation", "regardingobjectid", "SystemUser_AsyncOperations"),
    ),
)

TEAM = Entity(
    logical_name="team",
    schema_name="Team",
    entity_set="teams",
    primary_id="teamid",
    primary_name="name",
    display_name="Team",
    display_collection_name="Teams",
    object_type_code=9,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e04",
    base_type="principal",
    ownership="BusinessOwned",
    inherited_properties=(("ownerid", "teamid"),),
    attributes=(
        guid("teamid", description="Unique identifier for the team.", **CW),
        string("name", 160, description="Name of the team.", required=True, **CU),
        Attribute("teamtype", T.PICKLIST, option_set=os_.TEAM_TYPE, description="Select the team type.", **CW),
        lookup("businessunitid", "businessunit", description="Unique identifier of the business unit with which the team is associated.", required=True, **CU),
        lookup("administratorid", "systemuser", description="Unique identifier of the user primary responsible for the team.", **CU),
        guid("azureactivedirectoryobjectid", description="The object ID of the group in Microsoft Entra ID.", **CW),
        *audit_columns("team"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("businessunitid", "businessunitid", "businessunit", "business_unit_teams", "business_unit_teams"),
        ManyToOne("administratorid", "administratorid", "systemuser", "lk_teambase_administratorid"),
        ManyToOne("createdby", "createdby", "systemuser", "lk_teambase_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_teambase_modifiedby"),
    ),
    one_to_many=(
        OneToMany("team_asyncoperation", "asyncoperation", "owningteam", "team_asyncoperation"),
        OneToMany("Team_AsyncOperations", "asyncoperation", "regardingobjectid", "Team_AsyncOperations"),
    ),
)

SDKMESSAGEPROCESSINGSTEP = Entity(
    logical_name="sdkmessageprocessingstep",
    schema_name="SdkMessageProcessingStep",
    entity_set="sdkmessageprocessingsteps",
    primary_id="sdkmessageprocessingstepid",
    primary_name="name",
    display_name="Sdk Message Processing Step",
    display_collection_name="Sdk Message Processing Steps",
    object_type_code=4608,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e05",
    ownership="UserOwned",
    attributes=(
        guid("sdkmessageprocessingstepid", description="Unique identifier of the SDK message processing step entity.", **CW),
        string("name", 256, description="Name of SdkMessage processing step.", **CU),
        string("description", 256, description="Description of the SDK message processing step.", **CU),
        Attribute("mode", T.PICKLIST, option_set=os_.SDKSTEP_MODE, description="Run-time mode of execution, for example, synchronous or asynchronous.", **CU),
        Attribute("stage", T.PICKLIST, option_set=os_.SDKSTEP_STAGE, description="Stage in the execution pipeline that the SDK message processing step is in.", **CU),
        integer("rank", description="Processing order within the stage.", **CU),
        boolean("asyncautodelete", description="Indicates whether the asynchronous system job is automatically deleted on completion.", **CU),
        Attribute("statecode", T.STATE, option_set=os_.ACTIVE_STATE, description="Status of the SDK message processing step.", **U),
        Attribute("statuscode", T.STATUS, option_set=os_.ACTIVE_STATUS, description="Reason for the status of the SDK message processing step.", **U),
        *audit_columns("SDK message processing step"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "createdby_sdkmessageprocessingstep"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_sdkmessageprocessingstep"),
    ),
    one_to_many=(
        OneToMany("SdkMessageProcessingStep_AsyncOperations", "asyncoperation", "owningextensionid",
                  "SdkMessageProcessingStep_AsyncOperations"),
    ),
)

WORKFLOW = Entity(
    logical_name="workflow",
    schema_name="Workflow",
    entity_set="workflows",
    primary_id="workflowid",
    primary_name="name",
    display_name="Process",
    display_collection_name="Processes",
    object_type_code=4703,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e06",
    attributes=(
        guid("workflowid", description="Unique identifier of the process.", **CW),
        string("name", 100, description="Name of the process.", required=True, **CU),
        Attribute("category", T.PICKLIST, option_set=os_.WORKFLOW_CATEGORY, description="Category of the process.", **CW),
        Attribute("primaryentity", T.ENTITYNAME, description="Primary entity for the process.", **CW),
        memo("description", description="Description of the process.", **CU),
        Attribute("statecode", T.STATE, option_set=os_.WORKFLOW_STATE, description="Status of the process.", **U),
        Attribute("statuscode", T.STATUS, option_set=os_.WORKFLOW_STATUS, description="Additional information about status of the process.", **U),
        *audit_columns("process"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "lk_workflow_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_workflow_modifiedby"),
    ),
    one_to_many=(
        OneToMany("lk_asyncoperation_workflowactivationid", "asyncoperation", "workflowactivationid",
                  "lk_asyncoperation_workflowactivationid"),
        OneToMany("Workflow_AsyncOperations", "asyncoperation", "regardingobjectid", "Workflow_AsyncOperations"),
    ),
)

ACCOUNT = Entity(
    logical_name="account",
    schema_name="Account",
    entity_set="accounts",
    primary_id="accountid",
    primary_name="name",
    display_name="Account",
    display_collection_name="Accounts",
    object_type_code=1,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e07",
    attributes=(
        guid("accountid", description="Unique identifier of the account.", **CW),
        string("name", 160, description="Type the company or business name.", **CU),
        string("accountnumber", 20, description="Type an ID number or code for the account.", **CU),
        string("address1_city", 80, description="Type the city for the primary address.", **CU),
        Attribute("statecode", T.STATE, option_set=os_.ACTIVE_STATE, description="Shows whether the account is active or inactive.", **U),
        Attribute("statuscode", T.STATUS, option_set=os_.ACTIVE_STATUS, description="Select the account's status.", **U),
        *audit_columns("account"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "lk_accountbase_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_accountbase_modifiedby"),
    ),
    one_to_many=(
        OneToMany("Account_AsyncOperations", "asyncoperation", "regardingobjectid", "Account_AsyncOperations"),
    ),
)

CONTACT = Entity(
    logical_name="contact",
    schema_name="Contact",
    entity_set="contacts",
    primary_id="contactid",
    primary_name="fullname",
    display_name="Contact",
    display_collection_name="Contacts",
    object_type_code=2,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e08",
    attributes=(
        guid("contactid", description="Unique identifier of the contact.", **CW),
        string("fullname", 160, description="Combines and shows the contact's first and last names."),
        string("firstname", 50, description="Type the contact's first name.", **CU),
        string("lastname", 50, description="Type the contact's last name.", **CU),
        string("emailaddress1", 100, description="Type the primary email address for the contact.", **CU),
        Attribute("statecode", T.STATE, option_set=os_.ACTIVE_STATE, description="Shows whether the contact is active or inactive.", **U),
        Attribute("statuscode", T.STATUS, option_set=os_.ACTIVE_STATUS, description="Select the contact's status.", **U),
        *audit_columns("contact"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "lk_contactbase_createdby"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "lk_contactbase_modifiedby"),
    ),
    one_to_many=(
        OneToMany("Contact_AsyncOperations", "asyncoperation", "regardingobjectid", "Contact_AsyncOperations"),
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
        ENTITY_METADATA,
    )
)
