"""The tables a system job points to (owners, creators, what it is regarding, the workflow or
step it runs), declared with the columns that `$expand`, lookups and formatted values need."""

from __future__ import annotations

from . import optionsets as os_
from .columns import CU, CW, U, audit_columns, boolean, guid, hidden, integer, lookup, memo, string
from .types import Attribute, Entity, ManyToOne, OneToMany
from .types import AttributeType as T

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
