from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FileLayout(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BLOCKS: _ClassVar[FileLayout]
    STAGED: _ClassVar[FileLayout]
    PACKED: _ClassVar[FileLayout]

class BatchLimit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_LIMIT_UNSPECIFIED: _ClassVar[BatchLimit]
    MAX_BATCH: _ClassVar[BatchLimit]
BLOCKS: FileLayout
STAGED: FileLayout
PACKED: FileLayout
BATCH_LIMIT_UNSPECIFIED: BatchLimit
MAX_BATCH: BatchLimit

class FileStatus(_message.Message):
    __slots__ = ("path", "is_dir", "length", "replication", "block_size", "mtime_ms", "atime_ms", "permission", "owner", "group", "file_id", "children_count", "under_construction", "layout")
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    MTIME_MS_FIELD_NUMBER: _ClassVar[int]
    ATIME_MS_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    FILE_ID_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNDER_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    path: str
    is_dir: bool
    length: int
    replication: int
    block_size: int
    mtime_ms: int
    atime_ms: int
    permission: int
    owner: str
    group: str
    file_id: int
    children_count: int
    under_construction: bool
    layout: FileLayout
    def __init__(self, path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., length: _Optional[int] = ..., replication: _Optional[int] = ..., block_size: _Optional[int] = ..., mtime_ms: _Optional[int] = ..., atime_ms: _Optional[int] = ..., permission: _Optional[int] = ..., owner: _Optional[str] = ..., group: _Optional[str] = ..., file_id: _Optional[int] = ..., children_count: _Optional[int] = ..., under_construction: _Optional[bool] = ..., layout: _Optional[_Union[FileLayout, str]] = ...) -> None: ...

class DatanodeId(_message.Message):
    __slots__ = ("uuid", "host_label", "transfer_address", "http_address", "rack")
    UUID_FIELD_NUMBER: _ClassVar[int]
    HOST_LABEL_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RACK_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    host_label: str
    transfer_address: str
    http_address: str
    rack: str
    def __init__(self, uuid: _Optional[str] = ..., host_label: _Optional[str] = ..., transfer_address: _Optional[str] = ..., http_address: _Optional[str] = ..., rack: _Optional[str] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("block_id", "generation_stamp", "num_bytes", "pool_id")
    BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_STAMP_FIELD_NUMBER: _ClassVar[int]
    NUM_BYTES_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    block_id: int
    generation_stamp: int
    num_bytes: int
    pool_id: str
    def __init__(self, block_id: _Optional[int] = ..., generation_stamp: _Optional[int] = ..., num_bytes: _Optional[int] = ..., pool_id: _Optional[str] = ...) -> None: ...

class LocatedBlock(_message.Message):
    __slots__ = ("block", "offset", "locations", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    offset: int
    locations: _containers.RepeatedCompositeFieldContainer[DatanodeId]
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., offset: _Optional[int] = ..., locations: _Optional[_Iterable[_Union[DatanodeId, _Mapping]]] = ..., token: _Optional[str] = ...) -> None: ...

class BlockKey(_message.Message):
    __slots__ = ("key_id", "secret", "expiry_ms")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MS_FIELD_NUMBER: _ClassVar[int]
    key_id: int
    secret: bytes
    expiry_ms: int
    def __init__(self, key_id: _Optional[int] = ..., secret: _Optional[bytes] = ..., expiry_ms: _Optional[int] = ...) -> None: ...

class LocatedBlocks(_message.Message):
    __slots__ = ("file_length", "blocks", "under_construction", "layout", "inline_data", "packed_offset", "packed_raw")
    FILE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    UNDER_CONSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    INLINE_DATA_FIELD_NUMBER: _ClassVar[int]
    PACKED_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PACKED_RAW_FIELD_NUMBER: _ClassVar[int]
    file_length: int
    blocks: _containers.RepeatedCompositeFieldContainer[LocatedBlock]
    under_construction: bool
    layout: FileLayout
    inline_data: bytes
    packed_offset: int
    packed_raw: bool
    def __init__(self, file_length: _Optional[int] = ..., blocks: _Optional[_Iterable[_Union[LocatedBlock, _Mapping]]] = ..., under_construction: _Optional[bool] = ..., layout: _Optional[_Union[FileLayout, str]] = ..., inline_data: _Optional[bytes] = ..., packed_offset: _Optional[int] = ..., packed_raw: _Optional[bool] = ...) -> None: ...

class MkdirsRequest(_message.Message):
    __slots__ = ("path", "permission", "create_parent")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_PARENT_FIELD_NUMBER: _ClassVar[int]
    path: str
    permission: int
    create_parent: bool
    def __init__(self, path: _Optional[str] = ..., permission: _Optional[int] = ..., create_parent: _Optional[bool] = ...) -> None: ...

class MkdirsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("path", "permission", "overwrite", "create_parent", "replication", "block_size", "client_name")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    CREATE_PARENT_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    path: str
    permission: int
    overwrite: bool
    create_parent: bool
    replication: int
    block_size: int
    client_name: str
    def __init__(self, path: _Optional[str] = ..., permission: _Optional[int] = ..., overwrite: _Optional[bool] = ..., create_parent: _Optional[bool] = ..., replication: _Optional[int] = ..., block_size: _Optional[int] = ..., client_name: _Optional[str] = ...) -> None: ...

class CreateResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: FileStatus
    def __init__(self, status: _Optional[_Union[FileStatus, _Mapping]] = ...) -> None: ...

class AddBlockRequest(_message.Message):
    __slots__ = ("path", "client_name", "previous", "excluded_uuids", "client_host")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_UUIDS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_name: str
    previous: Block
    excluded_uuids: _containers.RepeatedScalarFieldContainer[str]
    client_host: str
    def __init__(self, path: _Optional[str] = ..., client_name: _Optional[str] = ..., previous: _Optional[_Union[Block, _Mapping]] = ..., excluded_uuids: _Optional[_Iterable[str]] = ..., client_host: _Optional[str] = ...) -> None: ...

class AddBlockResponse(_message.Message):
    __slots__ = ("block",)
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    block: LocatedBlock
    def __init__(self, block: _Optional[_Union[LocatedBlock, _Mapping]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("path", "client_name", "last")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_name: str
    last: Block
    def __init__(self, path: _Optional[str] = ..., client_name: _Optional[str] = ..., last: _Optional[_Union[Block, _Mapping]] = ...) -> None: ...

class AppendRequest(_message.Message):
    __slots__ = ("path", "client_name", "new_block", "client_host")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_BLOCK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_name: str
    new_block: bool
    client_host: str
    def __init__(self, path: _Optional[str] = ..., client_name: _Optional[str] = ..., new_block: _Optional[bool] = ..., client_host: _Optional[str] = ...) -> None: ...

class AppendResponse(_message.Message):
    __slots__ = ("status", "last_block")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_BLOCK_FIELD_NUMBER: _ClassVar[int]
    status: FileStatus
    last_block: LocatedBlock
    def __init__(self, status: _Optional[_Union[FileStatus, _Mapping]] = ..., last_block: _Optional[_Union[LocatedBlock, _Mapping]] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("completed",)
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    completed: bool
    def __init__(self, completed: _Optional[bool] = ...) -> None: ...

class OpenContainerRequest(_message.Message):
    __slots__ = ("client_name", "client_host", "excluded_uuids")
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_UUIDS_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    client_host: str
    excluded_uuids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_name: _Optional[str] = ..., client_host: _Optional[str] = ..., excluded_uuids: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenContainerResponse(_message.Message):
    __slots__ = ("path", "block", "max_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    block: LocatedBlock
    max_bytes: int
    def __init__(self, path: _Optional[str] = ..., block: _Optional[_Union[LocatedBlock, _Mapping]] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class CommitSmallRequest(_message.Message):
    __slots__ = ("path", "client_name", "container_block_id", "offset", "length", "crc32c", "create", "permission", "overwrite", "create_parent", "expect_file_id", "expect_mtime_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    CREATE_PARENT_FIELD_NUMBER: _ClassVar[int]
    EXPECT_FILE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPECT_MTIME_MS_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_name: str
    container_block_id: int
    offset: int
    length: int
    crc32c: int
    create: bool
    permission: int
    overwrite: bool
    create_parent: bool
    expect_file_id: int
    expect_mtime_ms: int
    def __init__(self, path: _Optional[str] = ..., client_name: _Optional[str] = ..., container_block_id: _Optional[int] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., crc32c: _Optional[int] = ..., create: _Optional[bool] = ..., permission: _Optional[int] = ..., overwrite: _Optional[bool] = ..., create_parent: _Optional[bool] = ..., expect_file_id: _Optional[int] = ..., expect_mtime_ms: _Optional[int] = ...) -> None: ...

class CommitSmallResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PackNowRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PackNowResponse(_message.Message):
    __slots__ = ("files_packed", "containers_written", "containers_compacted")
    FILES_PACKED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_COMPACTED_FIELD_NUMBER: _ClassVar[int]
    files_packed: int
    containers_written: int
    containers_compacted: int
    def __init__(self, files_packed: _Optional[int] = ..., containers_written: _Optional[int] = ..., containers_compacted: _Optional[int] = ...) -> None: ...

class AbandonBlockRequest(_message.Message):
    __slots__ = ("path", "client_name", "block")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_name: str
    block: Block
    def __init__(self, path: _Optional[str] = ..., client_name: _Optional[str] = ..., block: _Optional[_Union[Block, _Mapping]] = ...) -> None: ...

class AbandonBlockResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetBlockLocationsRequest(_message.Message):
    __slots__ = ("path", "offset", "length", "client_host")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    path: str
    offset: int
    length: int
    client_host: str
    def __init__(self, path: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., client_host: _Optional[str] = ...) -> None: ...

class GetBlockLocationsResponse(_message.Message):
    __slots__ = ("blocks",)
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    blocks: LocatedBlocks
    def __init__(self, blocks: _Optional[_Union[LocatedBlocks, _Mapping]] = ...) -> None: ...

class GetFileInfoRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class GetFileInfoResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: FileStatus
    def __init__(self, status: _Optional[_Union[FileStatus, _Mapping]] = ...) -> None: ...

class GetListingRequest(_message.Message):
    __slots__ = ("path", "start_after", "limit")
    PATH_FIELD_NUMBER: _ClassVar[int]
    START_AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    path: str
    start_after: str
    limit: int
    def __init__(self, path: _Optional[str] = ..., start_after: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetListingResponse(_message.Message):
    __slots__ = ("entries", "remaining")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[FileStatus]
    remaining: int
    def __init__(self, entries: _Optional[_Iterable[_Union[FileStatus, _Mapping]]] = ..., remaining: _Optional[int] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("src", "dst")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ...) -> None: ...

class RenameResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("path", "recursive")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    path: str
    recursive: bool
    def __init__(self, path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class SetReplicationRequest(_message.Message):
    __slots__ = ("path", "replication")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    path: str
    replication: int
    def __init__(self, path: _Optional[str] = ..., replication: _Optional[int] = ...) -> None: ...

class SetPermissionRequest(_message.Message):
    __slots__ = ("path", "permission")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    permission: int
    def __init__(self, path: _Optional[str] = ..., permission: _Optional[int] = ...) -> None: ...

class SetOwnerRequest(_message.Message):
    __slots__ = ("path", "owner", "group")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    path: str
    owner: str
    group: str
    def __init__(self, path: _Optional[str] = ..., owner: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class SetTimesRequest(_message.Message):
    __slots__ = ("path", "mtime_ms", "atime_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MTIME_MS_FIELD_NUMBER: _ClassVar[int]
    ATIME_MS_FIELD_NUMBER: _ClassVar[int]
    path: str
    mtime_ms: int
    atime_ms: int
    def __init__(self, path: _Optional[str] = ..., mtime_ms: _Optional[int] = ..., atime_ms: _Optional[int] = ...) -> None: ...

class SetAttrResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetContentSummaryRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class GetContentSummaryResponse(_message.Message):
    __slots__ = ("length", "file_count", "directory_count", "space_consumed", "quota", "space_quota")
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_COUNT_FIELD_NUMBER: _ClassVar[int]
    SPACE_CONSUMED_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    SPACE_QUOTA_FIELD_NUMBER: _ClassVar[int]
    length: int
    file_count: int
    directory_count: int
    space_consumed: int
    quota: int
    space_quota: int
    def __init__(self, length: _Optional[int] = ..., file_count: _Optional[int] = ..., directory_count: _Optional[int] = ..., space_consumed: _Optional[int] = ..., quota: _Optional[int] = ..., space_quota: _Optional[int] = ...) -> None: ...

class SetQuotaRequest(_message.Message):
    __slots__ = ("path", "namespace_quota", "space_quota")
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_QUOTA_FIELD_NUMBER: _ClassVar[int]
    SPACE_QUOTA_FIELD_NUMBER: _ClassVar[int]
    path: str
    namespace_quota: int
    space_quota: int
    def __init__(self, path: _Optional[str] = ..., namespace_quota: _Optional[int] = ..., space_quota: _Optional[int] = ...) -> None: ...

class RefreshNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshNodesResponse(_message.Message):
    __slots__ = ("decommissioning", "decommissioned")
    DECOMMISSIONING_FIELD_NUMBER: _ClassVar[int]
    DECOMMISSIONED_FIELD_NUMBER: _ClassVar[int]
    decommissioning: _containers.RepeatedScalarFieldContainer[str]
    decommissioned: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, decommissioning: _Optional[_Iterable[str]] = ..., decommissioned: _Optional[_Iterable[str]] = ...) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("client_name",)
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    client_name: str
    def __init__(self, client_name: _Optional[str] = ...) -> None: ...

class RenewLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BadReplica(_message.Message):
    __slots__ = ("block", "datanode_uuid", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    DATANODE_UUID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    datanode_uuid: str
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., datanode_uuid: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class ReportBadBlocksRequest(_message.Message):
    __slots__ = ("replicas",)
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    replicas: _containers.RepeatedCompositeFieldContainer[BadReplica]
    def __init__(self, replicas: _Optional[_Iterable[_Union[BadReplica, _Mapping]]] = ...) -> None: ...

class ReportBadBlocksResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DatanodeReport(_message.Message):
    __slots__ = ("id", "alive", "capacity", "used", "remaining", "last_heartbeat_ms_ago", "num_blocks", "admin_state")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_MS_AGO_FIELD_NUMBER: _ClassVar[int]
    NUM_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_FIELD_NUMBER: _ClassVar[int]
    id: DatanodeId
    alive: bool
    capacity: int
    used: int
    remaining: int
    last_heartbeat_ms_ago: int
    num_blocks: int
    admin_state: str
    def __init__(self, id: _Optional[_Union[DatanodeId, _Mapping]] = ..., alive: _Optional[bool] = ..., capacity: _Optional[int] = ..., used: _Optional[int] = ..., remaining: _Optional[int] = ..., last_heartbeat_ms_ago: _Optional[int] = ..., num_blocks: _Optional[int] = ..., admin_state: _Optional[str] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("nameservice", "cluster_id", "pool_id", "files", "directories", "blocks", "under_replicated", "missing", "corrupt_replicas", "pending_replications", "datanodes", "rss_bytes", "objects", "max_memory", "max_objects", "bytes_per_object", "baseline_rss_bytes", "hdfs_heap_estimate", "budget_refusal", "small_staged", "small_staged_bytes", "small_packed", "containers", "container_live_bytes", "container_bytes", "auth_mode", "tls", "caller", "caller_groups", "caller_superuser", "http_address", "started_ms")
    NAMESERVICE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    UNDER_REPLICATED_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    PENDING_REPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    DATANODES_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    MAX_MEMORY_FIELD_NUMBER: _ClassVar[int]
    MAX_OBJECTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_OBJECT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    HDFS_HEAP_ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_REFUSAL_FIELD_NUMBER: _ClassVar[int]
    SMALL_STAGED_FIELD_NUMBER: _ClassVar[int]
    SMALL_STAGED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SMALL_PACKED_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_LIVE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_BYTES_FIELD_NUMBER: _ClassVar[int]
    AUTH_MODE_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CALLER_GROUPS_FIELD_NUMBER: _ClassVar[int]
    CALLER_SUPERUSER_FIELD_NUMBER: _ClassVar[int]
    HTTP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STARTED_MS_FIELD_NUMBER: _ClassVar[int]
    nameservice: str
    cluster_id: str
    pool_id: str
    files: int
    directories: int
    blocks: int
    under_replicated: int
    missing: int
    corrupt_replicas: int
    pending_replications: int
    datanodes: _containers.RepeatedCompositeFieldContainer[DatanodeReport]
    rss_bytes: int
    objects: int
    max_memory: int
    max_objects: int
    bytes_per_object: int
    baseline_rss_bytes: int
    hdfs_heap_estimate: int
    budget_refusal: str
    small_staged: int
    small_staged_bytes: int
    small_packed: int
    containers: int
    container_live_bytes: int
    container_bytes: int
    auth_mode: str
    tls: bool
    caller: str
    caller_groups: _containers.RepeatedScalarFieldContainer[str]
    caller_superuser: bool
    http_address: str
    started_ms: int
    def __init__(self, nameservice: _Optional[str] = ..., cluster_id: _Optional[str] = ..., pool_id: _Optional[str] = ..., files: _Optional[int] = ..., directories: _Optional[int] = ..., blocks: _Optional[int] = ..., under_replicated: _Optional[int] = ..., missing: _Optional[int] = ..., corrupt_replicas: _Optional[int] = ..., pending_replications: _Optional[int] = ..., datanodes: _Optional[_Iterable[_Union[DatanodeReport, _Mapping]]] = ..., rss_bytes: _Optional[int] = ..., objects: _Optional[int] = ..., max_memory: _Optional[int] = ..., max_objects: _Optional[int] = ..., bytes_per_object: _Optional[int] = ..., baseline_rss_bytes: _Optional[int] = ..., hdfs_heap_estimate: _Optional[int] = ..., budget_refusal: _Optional[str] = ..., small_staged: _Optional[int] = ..., small_staged_bytes: _Optional[int] = ..., small_packed: _Optional[int] = ..., containers: _Optional[int] = ..., container_live_bytes: _Optional[int] = ..., container_bytes: _Optional[int] = ..., auth_mode: _Optional[str] = ..., tls: _Optional[bool] = ..., caller: _Optional[str] = ..., caller_groups: _Optional[_Iterable[str]] = ..., caller_superuser: _Optional[bool] = ..., http_address: _Optional[str] = ..., started_ms: _Optional[int] = ...) -> None: ...

class GetServerDefaultsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerDefaultsResponse(_message.Message):
    __slots__ = ("block_size", "replication", "nameservice", "pool_id", "cluster_id", "bytes_per_checksum", "small_file_threshold")
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    NAMESERVICE_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    SMALL_FILE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    block_size: int
    replication: int
    nameservice: str
    pool_id: str
    cluster_id: str
    bytes_per_checksum: int
    small_file_threshold: int
    def __init__(self, block_size: _Optional[int] = ..., replication: _Optional[int] = ..., nameservice: _Optional[str] = ..., pool_id: _Optional[str] = ..., cluster_id: _Optional[str] = ..., bytes_per_checksum: _Optional[int] = ..., small_file_threshold: _Optional[int] = ...) -> None: ...

class SafeModeRequest(_message.Message):
    __slots__ = ("action",)
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        GET: _ClassVar[SafeModeRequest.Action]
        ENTER: _ClassVar[SafeModeRequest.Action]
        LEAVE: _ClassVar[SafeModeRequest.Action]
    GET: SafeModeRequest.Action
    ENTER: SafeModeRequest.Action
    LEAVE: SafeModeRequest.Action
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: SafeModeRequest.Action
    def __init__(self, action: _Optional[_Union[SafeModeRequest.Action, str]] = ...) -> None: ...

class SafeModeResponse(_message.Message):
    __slots__ = ("on", "manual", "reported_blocks", "total_blocks", "threshold", "reason")
    ON_FIELD_NUMBER: _ClassVar[int]
    MANUAL_FIELD_NUMBER: _ClassVar[int]
    REPORTED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    on: bool
    manual: bool
    reported_blocks: int
    total_blocks: int
    threshold: float
    reason: str
    def __init__(self, on: _Optional[bool] = ..., manual: _Optional[bool] = ..., reported_blocks: _Optional[int] = ..., total_blocks: _Optional[int] = ..., threshold: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class GetDelegationTokenRequest(_message.Message):
    __slots__ = ("renewer",)
    RENEWER_FIELD_NUMBER: _ClassVar[int]
    renewer: str
    def __init__(self, renewer: _Optional[str] = ...) -> None: ...

class GetDelegationTokenResponse(_message.Message):
    __slots__ = ("token", "expiry_ms", "max_date_ms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_DATE_MS_FIELD_NUMBER: _ClassVar[int]
    token: str
    expiry_ms: int
    max_date_ms: int
    def __init__(self, token: _Optional[str] = ..., expiry_ms: _Optional[int] = ..., max_date_ms: _Optional[int] = ...) -> None: ...

class RenewDelegationTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class RenewDelegationTokenResponse(_message.Message):
    __slots__ = ("expiry_ms",)
    EXPIRY_MS_FIELD_NUMBER: _ClassVar[int]
    expiry_ms: int
    def __init__(self, expiry_ms: _Optional[int] = ...) -> None: ...

class CancelDelegationTokenRequest(_message.Message):
    __slots__ = ("token",)
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token: str
    def __init__(self, token: _Optional[str] = ...) -> None: ...

class CancelDelegationTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IssueUserTokenRequest(_message.Message):
    __slots__ = ("user", "lifetime_s")
    USER_FIELD_NUMBER: _ClassVar[int]
    LIFETIME_S_FIELD_NUMBER: _ClassVar[int]
    user: str
    lifetime_s: int
    def __init__(self, user: _Optional[str] = ..., lifetime_s: _Optional[int] = ...) -> None: ...

class IssueUserTokenResponse(_message.Message):
    __slots__ = ("token", "expiry_ms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_MS_FIELD_NUMBER: _ClassVar[int]
    token: str
    expiry_ms: int
    def __init__(self, token: _Optional[str] = ..., expiry_ms: _Optional[int] = ...) -> None: ...

class SaveNamespaceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SaveNamespaceResponse(_message.Message):
    __slots__ = ("txid", "image")
    TXID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    txid: int
    image: str
    def __init__(self, txid: _Optional[int] = ..., image: _Optional[str] = ...) -> None: ...

class BatchEntry(_message.Message):
    __slots__ = ("get_file_info", "mkdirs", "create", "complete", "delete", "get_block_locations", "commit_small")
    GET_FILE_INFO_FIELD_NUMBER: _ClassVar[int]
    MKDIRS_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GET_BLOCK_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SMALL_FIELD_NUMBER: _ClassVar[int]
    get_file_info: GetFileInfoRequest
    mkdirs: MkdirsRequest
    create: CreateRequest
    complete: CompleteRequest
    delete: DeleteRequest
    get_block_locations: GetBlockLocationsRequest
    commit_small: CommitSmallRequest
    def __init__(self, get_file_info: _Optional[_Union[GetFileInfoRequest, _Mapping]] = ..., mkdirs: _Optional[_Union[MkdirsRequest, _Mapping]] = ..., create: _Optional[_Union[CreateRequest, _Mapping]] = ..., complete: _Optional[_Union[CompleteRequest, _Mapping]] = ..., delete: _Optional[_Union[DeleteRequest, _Mapping]] = ..., get_block_locations: _Optional[_Union[GetBlockLocationsRequest, _Mapping]] = ..., commit_small: _Optional[_Union[CommitSmallRequest, _Mapping]] = ...) -> None: ...

class BatchRequest(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[BatchEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[BatchEntry, _Mapping]]] = ...) -> None: ...

class BatchError(_message.Message):
    __slots__ = ("kind", "code", "message", "path")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    kind: str
    code: int
    message: str
    path: str
    def __init__(self, kind: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class BatchResult(_message.Message):
    __slots__ = ("error", "get_file_info", "mkdirs", "create", "complete", "delete", "get_block_locations", "commit_small")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    GET_FILE_INFO_FIELD_NUMBER: _ClassVar[int]
    MKDIRS_FIELD_NUMBER: _ClassVar[int]
    CREATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    GET_BLOCK_LOCATIONS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SMALL_FIELD_NUMBER: _ClassVar[int]
    error: BatchError
    get_file_info: GetFileInfoResponse
    mkdirs: MkdirsResponse
    create: CreateResponse
    complete: CompleteResponse
    delete: DeleteResponse
    get_block_locations: GetBlockLocationsResponse
    commit_small: CommitSmallResponse
    def __init__(self, error: _Optional[_Union[BatchError, _Mapping]] = ..., get_file_info: _Optional[_Union[GetFileInfoResponse, _Mapping]] = ..., mkdirs: _Optional[_Union[MkdirsResponse, _Mapping]] = ..., create: _Optional[_Union[CreateResponse, _Mapping]] = ..., complete: _Optional[_Union[CompleteResponse, _Mapping]] = ..., delete: _Optional[_Union[DeleteResponse, _Mapping]] = ..., get_block_locations: _Optional[_Union[GetBlockLocationsResponse, _Mapping]] = ..., commit_small: _Optional[_Union[CommitSmallResponse, _Mapping]] = ...) -> None: ...

class BatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResult, _Mapping]]] = ...) -> None: ...

class MountPoint(_message.Message):
    __slots__ = ("path", "nameservice", "readonly")
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAMESERVICE_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    path: str
    nameservice: str
    readonly: bool
    def __init__(self, path: _Optional[str] = ..., nameservice: _Optional[str] = ..., readonly: _Optional[bool] = ...) -> None: ...

class NameserviceAddress(_message.Message):
    __slots__ = ("name", "address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class MountTableState(_message.Message):
    __slots__ = ("version", "nameservices", "mounts", "fallback", "holder")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NAMESERVICES_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    version: int
    nameservices: _containers.RepeatedCompositeFieldContainer[NameserviceAddress]
    mounts: _containers.RepeatedCompositeFieldContainer[MountPoint]
    fallback: str
    holder: str
    def __init__(self, version: _Optional[int] = ..., nameservices: _Optional[_Iterable[_Union[NameserviceAddress, _Mapping]]] = ..., mounts: _Optional[_Iterable[_Union[MountPoint, _Mapping]]] = ..., fallback: _Optional[str] = ..., holder: _Optional[str] = ...) -> None: ...

class GetMountTableRequest(_message.Message):
    __slots__ = ("known_version",)
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: int
    def __init__(self, known_version: _Optional[int] = ...) -> None: ...

class GetMountTableResponse(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: MountTableState
    def __init__(self, table: _Optional[_Union[MountTableState, _Mapping]] = ...) -> None: ...

class UpdateMountTableRequest(_message.Message):
    __slots__ = ("expected_version", "table")
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    expected_version: int
    table: MountTableState
    def __init__(self, expected_version: _Optional[int] = ..., table: _Optional[_Union[MountTableState, _Mapping]] = ...) -> None: ...

class UpdateMountTableResponse(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: MountTableState
    def __init__(self, table: _Optional[_Union[MountTableState, _Mapping]] = ...) -> None: ...

class InstallMountTableRequest(_message.Message):
    __slots__ = ("table",)
    TABLE_FIELD_NUMBER: _ClassVar[int]
    table: MountTableState
    def __init__(self, table: _Optional[_Union[MountTableState, _Mapping]] = ...) -> None: ...

class InstallMountTableResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class ExportSubtreeRequest(_message.Message):
    __slots__ = ("path", "only")
    PATH_FIELD_NUMBER: _ClassVar[int]
    ONLY_FIELD_NUMBER: _ClassVar[int]
    path: str
    only: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., only: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportSubtreeResponse(_message.Message):
    __slots__ = ("entries", "txid", "pool_id")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    entries: bytes
    txid: int
    pool_id: str
    def __init__(self, entries: _Optional[bytes] = ..., txid: _Optional[int] = ..., pool_id: _Optional[str] = ...) -> None: ...

class SubtreeChangesRequest(_message.Message):
    __slots__ = ("path", "since_txid")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SINCE_TXID_FIELD_NUMBER: _ClassVar[int]
    path: str
    since_txid: int
    def __init__(self, path: _Optional[str] = ..., since_txid: _Optional[int] = ...) -> None: ...

class SubtreeChangesResponse(_message.Message):
    __slots__ = ("paths", "txid", "resync")
    PATHS_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    RESYNC_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    txid: int
    resync: bool
    def __init__(self, paths: _Optional[_Iterable[str]] = ..., txid: _Optional[int] = ..., resync: _Optional[bool] = ...) -> None: ...

class FenceSubtreeRequest(_message.Message):
    __slots__ = ("path", "action", "move_id", "force_close_open")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FENCE: _ClassVar[FenceSubtreeRequest.Action]
        UNFENCE: _ClassVar[FenceSubtreeRequest.Action]
        DROP: _ClassVar[FenceSubtreeRequest.Action]
    FENCE: FenceSubtreeRequest.Action
    UNFENCE: FenceSubtreeRequest.Action
    DROP: FenceSubtreeRequest.Action
    PATH_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    MOVE_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_CLOSE_OPEN_FIELD_NUMBER: _ClassVar[int]
    path: str
    action: FenceSubtreeRequest.Action
    move_id: str
    force_close_open: bool
    def __init__(self, path: _Optional[str] = ..., action: _Optional[_Union[FenceSubtreeRequest.Action, str]] = ..., move_id: _Optional[str] = ..., force_close_open: _Optional[bool] = ...) -> None: ...

class FenceSubtreeResponse(_message.Message):
    __slots__ = ("open_files", "txid")
    OPEN_FILES_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    open_files: _containers.RepeatedScalarFieldContainer[str]
    txid: int
    def __init__(self, open_files: _Optional[_Iterable[str]] = ..., txid: _Optional[int] = ...) -> None: ...

class ImportSubtreeRequest(_message.Message):
    __slots__ = ("path", "source_pool", "entries", "removed", "move_id")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_POOL_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    MOVE_ID_FIELD_NUMBER: _ClassVar[int]
    path: str
    source_pool: str
    entries: bytes
    removed: _containers.RepeatedScalarFieldContainer[str]
    move_id: str
    def __init__(self, path: _Optional[str] = ..., source_pool: _Optional[str] = ..., entries: _Optional[bytes] = ..., removed: _Optional[_Iterable[str]] = ..., move_id: _Optional[str] = ...) -> None: ...

class ImportSubtreeResponse(_message.Message):
    __slots__ = ("files", "directories", "blocks")
    FILES_FIELD_NUMBER: _ClassVar[int]
    DIRECTORIES_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    files: int
    directories: int
    blocks: int
    def __init__(self, files: _Optional[int] = ..., directories: _Optional[int] = ..., blocks: _Optional[int] = ...) -> None: ...

class MoveProgressRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class MoveProgressResponse(_message.Message):
    __slots__ = ("blocks", "blocks_with_replicas", "replicas_expected", "replicas_linked")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_WITH_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_EXPECTED_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_LINKED_FIELD_NUMBER: _ClassVar[int]
    blocks: int
    blocks_with_replicas: int
    replicas_expected: int
    replicas_linked: int
    def __init__(self, blocks: _Optional[int] = ..., blocks_with_replicas: _Optional[int] = ..., replicas_expected: _Optional[int] = ..., replicas_linked: _Optional[int] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("id", "cluster_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    id: DatanodeId
    cluster_id: str
    def __init__(self, id: _Optional[_Union[DatanodeId, _Mapping]] = ..., cluster_id: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("nameservice", "pool_id", "cluster_id", "heartbeat_interval_ms", "block_report_interval_ms", "block_keys")
    NAMESERVICE_FIELD_NUMBER: _ClassVar[int]
    POOL_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_REPORT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_KEYS_FIELD_NUMBER: _ClassVar[int]
    nameservice: str
    pool_id: str
    cluster_id: str
    heartbeat_interval_ms: int
    block_report_interval_ms: int
    block_keys: _containers.RepeatedCompositeFieldContainer[BlockKey]
    def __init__(self, nameservice: _Optional[str] = ..., pool_id: _Optional[str] = ..., cluster_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ..., block_report_interval_ms: _Optional[int] = ..., block_keys: _Optional[_Iterable[_Union[BlockKey, _Mapping]]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("uuid", "capacity", "used", "remaining", "active_transfers", "mount_version")
    UUID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    MOUNT_VERSION_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    capacity: int
    used: int
    remaining: int
    active_transfers: int
    mount_version: int
    def __init__(self, uuid: _Optional[str] = ..., capacity: _Optional[int] = ..., used: _Optional[int] = ..., remaining: _Optional[int] = ..., active_transfers: _Optional[int] = ..., mount_version: _Optional[int] = ...) -> None: ...

class TransferCommand(_message.Message):
    __slots__ = ("block", "targets", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    targets: _containers.RepeatedCompositeFieldContainer[DatanodeId]
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[DatanodeId, _Mapping]]] = ..., token: _Optional[str] = ...) -> None: ...

class VerifyCommand(_message.Message):
    __slots__ = ("blocks",)
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[Block]
    def __init__(self, blocks: _Optional[_Iterable[_Union[Block, _Mapping]]] = ...) -> None: ...

class DeleteCommand(_message.Message):
    __slots__ = ("blocks",)
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[Block]
    def __init__(self, blocks: _Optional[_Iterable[_Union[Block, _Mapping]]] = ...) -> None: ...

class PackSource(_message.Message):
    __slots__ = ("container", "offset", "length", "raw", "inline_data")
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    INLINE_DATA_FIELD_NUMBER: _ClassVar[int]
    container: LocatedBlock
    offset: int
    length: int
    raw: bool
    inline_data: bytes
    def __init__(self, container: _Optional[_Union[LocatedBlock, _Mapping]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., raw: _Optional[bool] = ..., inline_data: _Optional[bytes] = ...) -> None: ...

class PackCommand(_message.Message):
    __slots__ = ("block", "targets", "sources", "compress", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    COMPRESS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    targets: _containers.RepeatedCompositeFieldContainer[DatanodeId]
    sources: _containers.RepeatedCompositeFieldContainer[PackSource]
    compress: bool
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[DatanodeId, _Mapping]]] = ..., sources: _Optional[_Iterable[_Union[PackSource, _Mapping]]] = ..., compress: _Optional[bool] = ..., token: _Optional[str] = ...) -> None: ...

class LinkedBlock(_message.Message):
    __slots__ = ("source", "target_block_id")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_BLOCK_ID_FIELD_NUMBER: _ClassVar[int]
    source: Block
    target_block_id: int
    def __init__(self, source: _Optional[_Union[Block, _Mapping]] = ..., target_block_id: _Optional[int] = ...) -> None: ...

class LinkCommand(_message.Message):
    __slots__ = ("source_pool", "blocks")
    SOURCE_POOL_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    source_pool: str
    blocks: _containers.RepeatedCompositeFieldContainer[LinkedBlock]
    def __init__(self, source_pool: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[LinkedBlock, _Mapping]]] = ...) -> None: ...

class DatanodeCommand(_message.Message):
    __slots__ = ("transfer", "delete", "pack", "verify", "link")
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    PACK_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    transfer: TransferCommand
    delete: DeleteCommand
    pack: PackCommand
    verify: VerifyCommand
    link: LinkCommand
    def __init__(self, transfer: _Optional[_Union[TransferCommand, _Mapping]] = ..., delete: _Optional[_Union[DeleteCommand, _Mapping]] = ..., pack: _Optional[_Union[PackCommand, _Mapping]] = ..., verify: _Optional[_Union[VerifyCommand, _Mapping]] = ..., link: _Optional[_Union[LinkCommand, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("commands", "reregister", "block_keys", "mount_table")
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    BLOCK_KEYS_FIELD_NUMBER: _ClassVar[int]
    MOUNT_TABLE_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[DatanodeCommand]
    reregister: bool
    block_keys: _containers.RepeatedCompositeFieldContainer[BlockKey]
    mount_table: MountTableState
    def __init__(self, commands: _Optional[_Iterable[_Union[DatanodeCommand, _Mapping]]] = ..., reregister: _Optional[bool] = ..., block_keys: _Optional[_Iterable[_Union[BlockKey, _Mapping]]] = ..., mount_table: _Optional[_Union[MountTableState, _Mapping]] = ...) -> None: ...

class BlockReportRequest(_message.Message):
    __slots__ = ("uuid", "blocks")
    UUID_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    blocks: _containers.RepeatedCompositeFieldContainer[Block]
    def __init__(self, uuid: _Optional[str] = ..., blocks: _Optional[_Iterable[_Union[Block, _Mapping]]] = ...) -> None: ...

class BlockReportResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IncrementalBlockReportRequest(_message.Message):
    __slots__ = ("uuid", "received", "deleted")
    UUID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    received: _containers.RepeatedCompositeFieldContainer[Block]
    deleted: _containers.RepeatedCompositeFieldContainer[Block]
    def __init__(self, uuid: _Optional[str] = ..., received: _Optional[_Iterable[_Union[Block, _Mapping]]] = ..., deleted: _Optional[_Iterable[_Union[Block, _Mapping]]] = ...) -> None: ...

class IncrementalBlockReportResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContainerPackedRequest(_message.Message):
    __slots__ = ("uuid", "block", "offsets", "failed")
    UUID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    block: Block
    offsets: _containers.RepeatedScalarFieldContainer[int]
    failed: str
    def __init__(self, uuid: _Optional[str] = ..., block: _Optional[_Union[Block, _Mapping]] = ..., offsets: _Optional[_Iterable[int]] = ..., failed: _Optional[str] = ...) -> None: ...

class ContainerPackedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadBlockRequest(_message.Message):
    __slots__ = ("block", "offset", "length", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    offset: int
    length: int
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class WriteHeader(_message.Message):
    __slots__ = ("block", "targets", "client_name", "keep_partial", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    KEEP_PARTIAL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    targets: _containers.RepeatedCompositeFieldContainer[DatanodeId]
    client_name: str
    keep_partial: bool
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[DatanodeId, _Mapping]]] = ..., client_name: _Optional[str] = ..., keep_partial: _Optional[bool] = ..., token: _Optional[str] = ...) -> None: ...

class PipelineStatus(_message.Message):
    __slots__ = ("uuid", "ok", "message")
    UUID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    uuid: str
    ok: bool
    message: str
    def __init__(self, uuid: _Optional[str] = ..., ok: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...

class WriteAck(_message.Message):
    __slots__ = ("seqno", "statuses")
    SEQNO_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    seqno: int
    statuses: _containers.RepeatedCompositeFieldContainer[PipelineStatus]
    def __init__(self, seqno: _Optional[int] = ..., statuses: _Optional[_Iterable[_Union[PipelineStatus, _Mapping]]] = ...) -> None: ...

class ShortCircuitRequest(_message.Message):
    __slots__ = ("block", "client_host", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    client_host: str
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., client_host: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class ShortCircuitResponse(_message.Message):
    __slots__ = ("block_path", "meta_path", "length")
    BLOCK_PATH_FIELD_NUMBER: _ClassVar[int]
    META_PATH_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    block_path: str
    meta_path: str
    length: int
    def __init__(self, block_path: _Optional[str] = ..., meta_path: _Optional[str] = ..., length: _Optional[int] = ...) -> None: ...

class BlockChecksumRequest(_message.Message):
    __slots__ = ("block", "length", "token")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    block: Block
    length: int
    token: str
    def __init__(self, block: _Optional[_Union[Block, _Mapping]] = ..., length: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class BlockChecksumResponse(_message.Message):
    __slots__ = ("crc32c", "length", "bytes_per_checksum")
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    BYTES_PER_CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    crc32c: int
    length: int
    bytes_per_checksum: int
    def __init__(self, crc32c: _Optional[int] = ..., length: _Optional[int] = ..., bytes_per_checksum: _Optional[int] = ...) -> None: ...
