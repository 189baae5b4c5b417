"""Option sets of the asynchronous service, with their labels as Dataverse publishes them."""

from .types import BooleanLabels, Option, OptionSet

# `asyncoperation_operationtype`: labels verbatim, typos included ("Deactived", "asyc").
OPERATION_TYPE = OptionSet(
    "asyncoperation_operationtype",
    (
        Option(1, 'System Event'),
        Option(2, 'Bulk Email'),
        Option(3, 'Import File Parse'),
        Option(4, 'Transform Parse Data'),
        Option(5, 'Import'),
        Option(6, 'Activity Propagation'),
        Option(7, 'Duplicate Detection Rule Publish'),
        Option(8, 'Bulk Duplicate Detection'),
        Option(9, 'SQM Data Collection'),
        Option(10, 'Workflow'),
        Option(11, 'Quick Campaign'),
        Option(12, 'Matchcode Update'),
        Option(13, 'Bulk Delete'),
        Option(14, 'Deletion Service'),
        Option(15, 'Index Management'),
        Option(16, 'Collect Organization Statistics'),
        Option(17, 'Import Subprocess'),
        Option(18, 'Calculate Organization Storage Size'),
        Option(19, 'Collect Organization Database Statistics'),
        Option(20, 'Collection Organization Size Statistics'),
        Option(21, 'Database Tuning'),
        Option(22, 'Calculate Organization Maximum Storage Size'),
        Option(23, 'Bulk Delete Subprocess'),
        Option(24, 'Update Statistic Intervals'),
        Option(25, 'Organization Full Text Catalog Index'),
        Option(26, 'Database log backup'),
        Option(27, 'Update Contract States'),
        Option(28, 'DBCC SHRINKDATABASE maintenance job'),
        Option(29, 'DBCC SHRINKFILE maintenance job'),
        Option(30, 'Reindex all indices maintenance job'),
        Option(31, 'Storage Limit Notification'),
        Option(32, 'Cleanup inactive workflow assemblies'),
        Option(35, 'Recurring Series Expansion'),
        Option(38, 'Import Sample Data'),
        Option(40, 'Goal Roll Up'),
        Option(41, 'Audit Partition Creation'),
        Option(42, 'Check For Language Pack Updates'),
        Option(43, 'Provision Language Pack'),
        Option(44, 'Update Organization Database'),
        Option(45, 'Update Solution'),
        Option(46, 'Regenerate Entity Row Count Snapshot Data'),
        Option(47, 'Regenerate Read Share Snapshot Data'),
        Option(49, 'Post to Yammer'),
        Option(50, 'Outgoing Activity'),
        Option(51, 'Incoming Email Processing'),
        Option(52, 'Mailbox Test Access'),
        Option(53, 'Encryption Health Check'),
        Option(54, 'Execute Async Request'),
        Option(56, 'Update Entitlement States'),
        Option(57, 'Calculate Rollup Field'),
        Option(58, 'Mass Calculate Rollup Field'),
        Option(59, 'Import Translation'),
        Option(62, 'Convert Date And Time Behavior'),
        Option(63, 'EntityKey Index Creation'),
        Option(65, 'Update Knowledge Article States'),
        Option(68, 'Resource Booking Sync'),
        Option(69, 'Relationship Assistant Cards'),
        Option(71, 'Cleanup Solution Components'),
        Option(72, 'App Module Metadata Operation'),
        Option(73, 'ALM Anomaly Detection Operation'),
        Option(75, 'Flow Notification'),
        Option(76, 'Ribbon Client Metadata Operation'),
        Option(79, 'CallbackRegistration Expander Operation'),
        Option(85, 'Migrate notes to attachments job'),
        Option(86, 'Migrate article content to file storage'),
        Option(87, 'Updated Deactived On for Resolved Cases job'),
        Option(88, 'Cascade Reparent DB Async Operation'),
        Option(89, 'Cascade Merge Async Operation'),
        Option(90, 'CascadeAssign'),
        Option(91, 'CascadeDelete'),
        Option(92, 'Event Expander Operation'),
        Option(93, 'Import Solution Metadata'),
        Option(94, 'Bulk Delete File Attachment'),
        Option(95, 'Refresh Business Unit for Records Owned By Principal'),
        Option(96, 'Revoke Inherited Access'),
        Option(98, 'Create Or Refresh Virtual Entity'),
        Option(100, 'Cascade FlowSession Permissions Async Operation'),
        Option(101, 'Update Modern Flow Async Operation'),
        Option(102, 'AsyncArchive Async Operation'),
        Option(103, 'Cancel Async Operations (System)'),
        Option(104, 'Process Table For RecycleBin'),
        Option(105, 'Cascade Assign All Async Operation'),
        Option(106, 'Background Team Service Async Operation'),
        Option(187, 'Async Restore Job'),
        Option(201, 'Provision language for user'),
        Option(202, 'Export Solution Async Operation'),
        Option(203, 'Import Solution Async Operation'),
        Option(204, 'PublishAll Async Operation'),
        Option(207, 'DeleteAndPromote Async Operation'),
        Option(208, 'UninstallSolution Async Operation'),
        Option(209, 'ProvisionLanguage Async Operation'),
        Option(210, 'ImportTranslation Async Operation'),
        Option(211, 'StageAndUpgrade Async Operation'),
        Option(239, 'Denormalization Async Operation'),
        Option(250, 'Refresh Runtime Integration Components Async Operation'),
        Option(300, 'Bulk Archive Operation'),
        Option(301, 'Archive Execution Async Operation'),
        Option(302, 'FinOps Deployment Async Operation'),
        Option(304, 'Purge Archived Content Operation'),
        Option(305, 'Register Offering Async Operation'),
        Option(306, 'Execute DataProcessing Configuration'),
        Option(307, 'Sync Synapse Tables Schema'),
        Option(308, 'FinOps DB Sync Async Operation'),
        Option(309, 'FinOps Unit Test Async Operation'),
        Option(320, 'Catalog Service Generate Package Async Operation'),
        Option(321, 'Catalog Service Submit Approval Request Async Operation'),
        Option(322, 'Catalog Service Install Request Async Operation'),
        Option(330, 'TDS endpoint provisioning new TVF functions and grant permission Async Operation'),
        Option(332, 'FinOps Deploy Custom Package Async Operation'),
        Option(333, 'Deletes related Elastic Table records when a SQL record is deleted'),
        Option(334, 'Deletes related Elastic or SQL Table records when an Elastic Table record is deleted'),
        Option(335, 'Catalog service asyc operation to poll for a solution checker request'),
        Option(336, 'Catalog service asyc operation to submit a solution checker request'),
        Option(337, 'Solution service async operation to install solution after app updates'),
        Option(12801, 'Cascade Grant or Revoke Access Version Tracking Async Operation'),
        Option(190690091, 'AI Builder Training Events'),
        Option(190690092, 'AI Builder Prediction Events'),
    ),
    is_global=True,
)

# Types the platform runs for itself: they cannot be cancelled, paused or resumed.
PLATFORM_MAINTENANCE_TYPES = frozenset({9, 16, 18, 19, 20, 22, 24, 25, 27, 31})

ASYNC_STATE = OptionSet(
    "asyncoperation_statecode",
    (
        Option(0, "Ready", default_status=0),
        Option(1, "Suspended", default_status=10),
        Option(2, "Locked", default_status=20),
        Option(3, "Completed", default_status=30),
    ),
)

ASYNC_STATUS = OptionSet(
    "asyncoperation_statuscode",
    (
        Option(0, "Waiting For Resources", state=0),
        Option(10, "Waiting", state=1),
        Option(20, "In Progress", state=2),
        Option(21, "Pausing", state=2),
        Option(22, "Canceling", state=2),
        Option(30, "Succeeded", state=3),
        Option(31, "Failed", state=3),
        Option(32, "Canceled", state=3),
    ),
)

BULKDELETE_STATE = OptionSet(
    "bulkdeleteoperation_statecode",
    (
        Option(0, "Ready", default_status=1),
        Option(1, "Suspended", default_status=2),
        Option(2, "Locked", default_status=2),
        Option(3, "Completed", default_status=2),
    ),
)

BULKDELETE_STATUS = OptionSet(
    "bulkdeleteoperation_statuscode",
    (
        Option(0, "Waiting For Resources", state=0),
        Option(10, "Waiting", state=1),
        Option(11, "Retrying", state=1),
        Option(12, "Paused", state=1),
        Option(20, "In Progress", state=2),
        Option(21, "Pausing", state=2),
        Option(22, "Canceling", state=2),
        Option(30, "Succeeded", state=3),
        Option(31, "Failed", state=3),
        Option(32, "Canceled", state=3),
    ),
)

ACTIVE_STATE = OptionSet(
    "generic_statecode",
    (Option(0, "Active", default_status=1), Option(1, "Inactive", default_status=2)),
)

ACTIVE_STATUS = OptionSet(
    "generic_statuscode",
    (Option(1, "Active", state=0), Option(2, "Inactive", state=1)),
)

WORKFLOW_STATE = OptionSet(
    "workflow_statecode",
    (
        Option(0, "Draft", default_status=1),
        Option(1, "Activated", default_status=2),
        Option(2, "Suspended", default_status=3),
    ),
)

WORKFLOW_STATUS = OptionSet(
    "workflow_statuscode",
    (
        Option(1, "Draft", state=0),
        Option(2, "Activated", state=1),
        Option(3, "CompanyDLPViolation", state=2),
    ),
)

WORKFLOW_CATEGORY = OptionSet(
    "workflow_category",
    (
        Option(0, "Workflow"),
        Option(1, "Dialog"),
        Option(2, "Business Rule"),
        Option(3, "Action"),
        Option(4, "Business Process Flow"),
        Option(5, "Modern Flow"),
        Option(6, "Desktop Flow"),
        Option(7, "AI Flow"),
    ),
    is_global=False,
)

SDKSTEP_MODE = OptionSet(
    "sdkmessageprocessingstep_mode",
    (Option(0, "Synchronous"), Option(1, "Asynchronous")),
)

SDKSTEP_STAGE = OptionSet(
    "sdkmessageprocessingstep_stage",
    (
        Option(5, "Initial Pre-operation (For internal use only)"),
        Option(10, "Pre-validation"),
        Option(15, "Internal Pre-operation Before External Plugins (For internal use only)"),
        Option(20, "Pre-operation"),
        Option(25, "Internal Pre-operation After External Plugins (For internal use only)"),
        Option(30, "Main Operation (For internal use only)"),
        Option(35, "Internal Post-operation Before External Plugins (For internal use only)"),
        Option(40, "Post-operation"),
        Option(45, "Internal Post-operation After External Plugins (For internal use only)"),
        Option(50, "Post-operation (Deprecated)"),
        Option(55, "Final Post-operation (For internal use only)"),
        Option(80, "Pre-Commit stage fired before transaction commit (For internal use only)"),
        Option(90, "Post-Commit stage fired after transaction commit (For internal use only)"),
    ),
)

TEAM_TYPE = OptionSet(
    "team_type",
    (
        Option(0, "Owner"),
        Option(1, "Access"),
        Option(2, "Security Group"),
        Option(3, "Office Group"),
    ),
)

YES_NO = BooleanLabels("Yes", "No")
