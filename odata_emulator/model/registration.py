"""The registration tables: what an asynchronous step is (`sdkmessageprocessingstep`), the message
and table it listens to (`sdkmessage`, `sdkmessagefilter`), what it runs (`plugintype`, or a webhook
`serviceendpoint`) and the images it asks for (`sdkmessageprocessingstepimage`).

Columns and navigation properties as the Dataverse reference and the documented queries use them
(`../shared/reference/async-steps-and-webhooks.md` §1). `events/` reads these tables to file system
jobs after a record changes.
"""

from __future__ import annotations

from . import optionsets as os_
from .columns import CU, CW, audit_columns, boolean, guid, hidden, integer, lookup, memo, string
from .types import Attribute, Entity, ManyToOne, OneToMany, Option, OptionSet
from .types import AttributeType as T

STEP_MODE = os_.SDKSTEP_MODE
STEP_STAGE = os_.SDKSTEP_STAGE

STEP_STATE = OptionSet(
    "sdkmessageprocessingstep_statecode",
    (Option(0, "Enabled", default_status=1), Option(1, "Disabled", default_status=2)),
)
STEP_STATUS = OptionSet(
    "sdkmessageprocessingstep_statuscode",
    (Option(1, "Enabled", state=0), Option(2, "Disabled", state=1)),
)
STEP_DEPLOYMENT = OptionSet(
    "sdkmessageprocessingstep_supporteddeployment",
    (Option(0, "Server Only"), Option(1, "Microsoft Dynamics 365 Client for Outlook Only"), Option(2, "Both")),
)
STEP_INVOCATION = OptionSet(
    "sdkmessageprocessingstep_invocationsource",
    (Option(-1, "Internal"), Option(0, "Parent"), Option(1, "Child")),
)
IMAGE_TYPE = OptionSet(
    "sdkmessageprocessingstepimage_imagetype",
    (Option(0, "PreImage"), Option(1, "PostImage"), Option(2, "Both")),
)
CONTRACT = OptionSet(
    "serviceendpoint_contract",
    (
        Option(1, "OneWay"), Option(2, "Queue"), Option(3, "Rest"), Option(4, "TwoWay"), Option(5, "Topic"),
        Option(6, "Queue (Persistent)"), Option(7, "Event Hub"), Option(8, "Webhook"), Option(9, "Event Grid"),
        Option(10, "Managed Data Lake"), Option(11, "Container Storage"),
    ),
)
AUTH_TYPE = OptionSet(
    "serviceendpoint_authtype",
    (
        Option(0, "Not Specified"), Option(1, "ACS"), Option(2, "SAS Key"), Option(3, "SAS Token"),
        Option(4, "Webhook Key"), Option(5, "Http Header"), Option(6, "Http Query String"),
        Option(7, "Connection String"), Option(8, "Access Key"), Option(9, "Managed Identity"),
    ),
)
MESSAGE_FORMAT = OptionSet(
    "serviceendpoint_messageformat", (Option(1, "Binary XML"), Option(2, "Json"), Option(3, "Text XML")),
)
USER_CLAIM = OptionSet("serviceendpoint_userclaim", (Option(1, "None"), Option(2, "UserId"), Option(3, "UserInfo")))
CONNECTION_MODE = OptionSet("serviceendpoint_connectionmode", (Option(1, "Normal"), Option(2, "Federated")))


def _choice(name: str, option_set: OptionSet, description: str, kind: T = T.PICKLIST, **kw) -> Attribute:
    return Attribute(name, kind, option_set=option_set, description=description, **kw)


SDKMESSAGE = Entity(
    logical_name="sdkmessage",
    schema_name="SdkMessage",
    entity_set="sdkmessages",
    primary_id="sdkmessageid",
    primary_name="name",
    display_name="Sdk Message",
    display_collection_name="Sdk Messages",
    object_type_code=4606,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e10",
    ownership="OrganizationOwned",
    description="Message that is supported by the SDK.",
    attributes=(
        guid("sdkmessageid", description="Unique identifier of the SDK message entity.", **CW),
        string("name", 256, description="Name of the SDK message.", **CU),
        string("categoryname", 25, description="Information about the category of the SDK message.", **CU),
        integer("availability", description="Identifies where a method will be exposed. 0 - Server, 1 - Client, 2 - both.", **CU),
        boolean("autotransact", description="Information about whether the SDK message is automatically transacted.", **CU),
        boolean("isprivate", description="Indicates whether the SDK message should have its requests expanded per primary entity defined in its filters.", **CU),
        boolean("isreadonly", description="Information about whether SDK message is read-only.", **CU),
        boolean("template", description="Information about whether the SDK message is a template.", **CU),
        boolean("workflowsdkstepenabled", description="Whether or not the SDK message can be called from a workflow."),
        *audit_columns("SDK message"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "createdby_sdkmessage"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_sdkmessage"),
    ),
    one_to_many=(
        OneToMany("sdkmessageid_sdkmessagefilter", "sdkmessagefilter", "sdkmessageid", "sdkmessageid_sdkmessagefilter"),
        OneToMany("sdkmessageid_sdkmessageprocessingstep", "sdkmessageprocessingstep", "sdkmessageid",
                  "sdkmessageid_sdkmessageprocessingstep"),
    ),
)

SDKMESSAGEFILTER = Entity(
    logical_name="sdkmessagefilter",
    schema_name="SdkMessageFilter",
    entity_set="sdkmessagefilters",
    primary_id="sdkmessagefilterid",
    primary_name="name",
    display_name="Sdk Message Filter",
    display_collection_name="Sdk Message Filters",
    object_type_code=4607,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e11",
    ownership="OrganizationOwned",
    description="Filter that defines which SDK messages are valid for each type of entity.",
    attributes=(
        guid("sdkmessagefilterid", description="Unique identifier of the SDK message filter entity.", **CW),
        string("name", 256, description="Name of the SDK message filter."),
        lookup("sdkmessageid", "sdkmessage", description="Unique identifier of the related SDK message.", required=True, **CW),
        Attribute("primaryobjecttypecode", T.ENTITYNAME, description="Type of entity with which the SDK message filter is primarily associated."),
        Attribute("secondaryobjecttypecode", T.ENTITYNAME, description="Type of entity with which the SDK message filter is secondarily associated."),
        integer("availability", description="Identifies where a method will be exposed. 0 - Server, 1 - Client, 2 - both.", **CU),
        boolean("iscustomprocessingstepallowed", description="Indicates whether a custom SDK message processing step is allowed.", **CU),
        boolean("isvisible", description="Indicates whether the filter should be visible."),
        *audit_columns("SDK message filter"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("sdkmessageid", "sdkmessageid", "sdkmessage", "sdkmessageid_sdkmessagefilter", "sdkmessageid_sdkmessagefilter"),
        ManyToOne("createdby", "createdby", "systemuser", "createdby_sdkmessagefilter"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_sdkmessagefilter"),
    ),
    one_to_many=(
        OneToMany("sdkmessagefilterid_sdkmessageprocessingstep", "sdkmessageprocessingstep", "sdkmessagefilterid",
                  "sdkmessagefilterid_sdkmessageprocessingstep"),
    ),
)

PLUGINTYPE = Entity(
    logical_name="plugintype",
    schema_name="PluginType",
    entity_set="plugintypes",
    primary_id="plugintypeid",
    primary_name="name",
    display_name="Plug-in Type",
    display_collection_name="Plug-in Types",
    object_type_code=4602,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e12",
    ownership="OrganizationOwned",
    writable=True,
    description="Type that inherits from the IPlugin interface and is contained within a plug-in assembly.",
    attributes=(
        guid("plugintypeid", description="Unique identifier of the plug-in type.", **CW),
        string("name", 256, description="Name of the plug-in type.", **CU),
        string("typename", 256, description="Fully qualified type name of the plug-in type.", **CW),
        string("friendlyname", 256, description="User friendly name for the plug-in.", **CU),
        string("assemblyname", 100, description="Full path name of the plug-in assembly."),
        memo("description", 256, description="Description of the plug-in type.", **CU),
        string("workflowactivitygroupname", 256, description="Group name of workflow custom activity.", **CU),
        boolean("isworkflowactivity", description="Indicates if the plug-in is a custom activity for workflows."),
        *audit_columns("plug-in type"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "createdby_plugintype"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_plugintype"),
    ),
    one_to_many=(
        OneToMany("plugintype_sdkmessageprocessingstep", "sdkmessageprocessingstep", "eventhandler",
                  "plugintype_sdkmessageprocessingstep"),
        OneToMany("plugintypeid_sdkmessageprocessingstep", "sdkmessageprocessingstep", "plugintypeid",
                  "plugintypeid_sdkmessageprocessingstep"),
    ),
)

SERVICEENDPOINT = Entity(
    logical_name="serviceendpoint",
    schema_name="ServiceEndpoint",
    entity_set="serviceendpoints",
    primary_id="serviceendpointid",
    primary_name="name",
    display_name="Service Endpoint",
    display_collection_name="Service Endpoints",
    object_type_code=4618,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e13",
    ownership="OrganizationOwned",
    writable=True,
    description="Service endpoint that can be contacted.",
    attributes=(
        guid("serviceendpointid", description="Unique identifier of the service endpoint.", **CW),
        string("name", 256, description="Name of Service end point.", required=True, **CU),
        string("description", 256, description="Description of the service endpoint.", **CU),
        _choice("contract", CONTRACT, "Contract type for the service endpoint.", **CU),
        string("url", 2000, description="Full service endpoint address.", **CU),
        _choice("authtype", AUTH_TYPE, "Specifies mode of authentication with the service endpoint.", **CU),
        string("authvalue", 2048, description="Authentication Value", valid_for_read=False, **CU),
        boolean("isauthvalueset", description="Is Auth Value Set"),
        _choice("messageformat", MESSAGE_FORMAT, "Content type of the message.", **CU),
        string("namespaceaddress", 255, description="Service Bus namespace address.", **CU),
        string("path", 160, description="Path to the service endpoint.", **CU),
        string("solutionnamespace", 160, description="Namespace of the app fabric solution.", **CU),
        _choice("userclaim", USER_CLAIM, "Additional user claim value type.", **CU),
        _choice("connectionmode", CONNECTION_MODE, "Connection mode to contact the service endpoint.", **CU),
        *audit_columns("service endpoint"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("createdby", "createdby", "systemuser", "createdby_serviceendpoint"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_serviceendpoint"),
    ),
    one_to_many=(
        OneToMany("serviceendpoint_sdkmessageprocessingstep", "sdkmessageprocessingstep", "eventhandler",
                  "serviceendpoint_sdkmessageprocessingstep"),
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
    ownership="OrganizationOwned",
    writable=True,
    description="Stage in the execution pipeline that a plug-in is to execute.",
    attributes=(
        guid("sdkmessageprocessingstepid", description="Unique identifier of the SDK message processing step entity.", **CW),
        string("name", 256, description="Name of SdkMessage processing step.", required=True, **CU),
        string("description", 256, description="Description of the SDK message processing step.", **CU),
        _choice("mode", STEP_MODE, "Run-time mode of execution, for example, synchronous or asynchronous.", required=True, **CU),
        _choice("stage", STEP_STAGE, "Stage in the execution pipeline that the SDK message processing step is in.", required=True, **CU),
        integer("rank", description="Processing order within the stage.", required=True, **CU),
        lookup("sdkmessageid", "sdkmessage", description="Unique identifier of the SDK message.", required=True, **CU),
        lookup("sdkmessagefilterid", "sdkmessagefilter", description="Unique identifier of the SDK message filter.", **CU),
        lookup("eventhandler", "plugintype", "serviceendpoint", type_column="eventhandlertypecode",
               description="Unique identifier of the associated event handler.", required=True, **CU),
        Attribute("eventhandlertypecode", T.ENTITYNAME, description="The type of the event handler."),
        lookup("plugintypeid", "plugintype", description="Unique identifier of the plug-in type associated with the step.", **CU),
        lookup("impersonatinguserid", "systemuser", description="Unique identifier of the user to impersonate when running the step.", **CU),
        boolean("asyncautodelete", description="Indicates whether the asynchronous system job is automatically deleted on completion.", **CU),
        string("filteringattributes", 100_000, description="Comma-separated list of attributes. If at least one of these attributes is modified, the plug-in should execute.", **CU),
        memo("configuration", description="Step-specific configuration for the plug-in type. Passed to the plug-in constructor at run time.", **CU),
        _choice("supporteddeployment", STEP_DEPLOYMENT, "Deployment that the SDK message processing step should be executed on; server, client, or both.", required=True, **CU),
        _choice("invocationsource", STEP_INVOCATION, "Identifies if a plug-in should be executed from a parent pipeline, a child pipeline, or both.", **CU),
        boolean("canusereadonlyconnection", description="Identifies whether a SDK Message Processing Step type will be ReadOnly or Read Write.", **CU),
        boolean("canbebypassed", description="Indicates if the step can be bypassed.", **CU),
        integer("category", description="For internal use only.", **CU),
        boolean("enablepluginprofiler", description="EnablePluginProfiler", **CU),
        string("eventexpander", 256, description="Configuration for sending pipeline events to the Event Expander service.", **CU),
        memo("runtimeintegrationproperties", 512, description="For internal use only.", **CU),
        _choice("statecode", STEP_STATE, "Status of the SDK message processing step.", T.STATE, **CU),
        _choice("statuscode", STEP_STATUS, "Reason for the status of the SDK message processing step.", T.STATUS, **CU),
        *audit_columns("SDK message processing step"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("sdkmessageid", "sdkmessageid", "sdkmessage", "sdkmessageid_sdkmessageprocessingstep",
                  "sdkmessageid_sdkmessageprocessingstep"),
        ManyToOne("sdkmessagefilterid", "sdkmessagefilterid", "sdkmessagefilter", "sdkmessagefilterid_sdkmessageprocessingstep",
                  "sdkmessagefilterid_sdkmessageprocessingstep"),
        ManyToOne("eventhandler_plugintype", "eventhandler", "plugintype", "plugintype_sdkmessageprocessingstep",
                  "plugintype_sdkmessageprocessingstep"),
        ManyToOne("eventhandler_serviceendpoint", "eventhandler", "serviceendpoint", "serviceendpoint_sdkmessageprocessingstep",
                  "serviceendpoint_sdkmessageprocessingstep"),
        ManyToOne("plugintypeid", "plugintypeid", "plugintype", "plugintypeid_sdkmessageprocessingstep",
                  "plugintypeid_sdkmessageprocessingstep"),
        ManyToOne("impersonatinguserid", "impersonatinguserid", "systemuser", "impersonatinguserid_sdkmessageprocessingstep"),
        ManyToOne("createdby", "createdby", "systemuser", "createdby_sdkmessageprocessingstep"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_sdkmessageprocessingstep"),
    ),
    one_to_many=(
        OneToMany("SdkMessageProcessingStep_AsyncOperations", "asyncoperation", "owningextensionid",
                  "SdkMessageProcessingStep_AsyncOperations"),
        OneToMany("sdkmessageprocessingstepid_sdkmessageprocessingstepimage", "sdkmessageprocessingstepimage",
                  "sdkmessageprocessingstepid", "sdkmessageprocessingstepid_sdkmessageprocessingstepimage"),
    ),
)

SDKMESSAGEPROCESSINGSTEPIMAGE = Entity(
    logical_name="sdkmessageprocessingstepimage",
    schema_name="SdkMessageProcessingStepImage",
    entity_set="sdkmessageprocessingstepimages",
    primary_id="sdkmessageprocessingstepimageid",
    primary_name="name",
    display_name="Sdk Message Processing Step Image",
    display_collection_name="Sdk Message Processing Step Images",
    object_type_code=4615,
    metadata_id="7f3e1a32-0e1c-4d6c-9e77-1a5c2b3d4e14",
    ownership="OrganizationOwned",
    writable=True,
    description="Copy of an entity's attributes before or after the core system operation.",
    attributes=(
        guid("sdkmessageprocessingstepimageid", description="Unique identifier of the SDK message processing step image entity.", **CW),
        string("name", 256, description="Name of SdkMessage processing step image.", **CU),
        string("description", 256, description="Description of the SDK message processing step image.", **CU),
        string("entityalias", 256, description="Key name used to access the pre-image or post-image property bags in a step.", **CU),
        _choice("imagetype", IMAGE_TYPE, "Type of image requested.", **CU),
        string("attributes", 100_000, description="Comma-separated list of attributes that are to be passed into the SDK message processing step image.", **CU),
        string("messagepropertyname", 256, description="Name of the property on the Request message.", **CU),
        lookup("sdkmessageprocessingstepid", "sdkmessageprocessingstep",
               description="Unique identifier of the SDK message processing step.", required=True, **CU),
        *audit_columns("SDK message processing step image"),
        hidden("versionnumber", T.BIGINT),
    ),
    many_to_one=(
        ManyToOne("sdkmessageprocessingstepid", "sdkmessageprocessingstepid", "sdkmessageprocessingstep",
                  "sdkmessageprocessingstepid_sdkmessageprocessingstepimage",
                  "sdkmessageprocessingstepid_sdkmessageprocessingstepimage"),
        ManyToOne("createdby", "createdby", "systemuser", "createdby_sdkmessageprocessingstepimage"),
        ManyToOne("modifiedby", "modifiedby", "systemuser", "modifiedby_sdkmessageprocessingstepimage"),
    ),
)

REGISTRATION_TABLES = (SDKMESSAGE, SDKMESSAGEFILTER, PLUGINTYPE, SERVICEENDPOINT, SDKMESSAGEPROCESSINGSTEP,
                       SDKMESSAGEPROCESSINGSTEPIMAGE)
