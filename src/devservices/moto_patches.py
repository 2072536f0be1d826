"""Where moto's EBS direct API departs from what AWS documents, and the patch for each.

moto_launcher.py applies these before moto's server starts; test/aws has one test per
patch that shows moto's own behaviour (a server started without patches) next to
the patched one. Each patch is small and touches only the EBS direct API of moto
(moto/ebs/models.py and responses.py, version pinned in scripts/install-moto.sh);
everything else is moto as released. Nothing here checks signatures or fakes data:
blocks are only ever what a client wrote through PutSnapshotBlock.
"""

import base64
import binascii
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ebs import models as ebs_models
from moto.ebs import responses as ebs_responses

# AWS: "A block index is a logical index in units of 512 KiB blocks" (logical offset
# / 524288), and every BlockSize the EBS direct API returns is 524288.
AWS_BLOCK_SIZE = 524288
# AWS: MaxResults "Valid Range: Minimum value of 100. Maximum value of 10000"; a
# smaller value still returns at least 100 blocks (EBS direct API FAQ).
MIN_RESULTS, MAX_RESULTS = 100, 10000


class EbsError(ServiceException):
    """An EBS direct API error with the Reason field AWS documents; moto's serializer
    takes the HTTP status from the error's shape in the API model."""

    # moto finds an error's API model by the package its class lives in (moto.<service>).
    __module__ = "moto.ebs.exceptions"

    def __init__(self, code: str, reason: str, message: str):
        super().__init__(code, message)
        self.reason = reason


def lineage_of(snapshot: Any) -> str:
    """The snapshot lineage a snapshot belongs to (set by the changed-blocks patch)."""
    return getattr(snapshot, "lineage", snapshot.snapshot_id)


# ---- block-size ---------------------------------------------------------------------
# AWS: BlockSize is 524288 bytes. moto hard-codes 512 in EBSSnapshot, so a reader that
# trusts BlockSize would place every block at index*512.
def patch_block_size(_: "Options") -> None:
    original_init = ebs_models.EBSSnapshot.__init__

    def init(self: Any, account_id: str, snapshot: Any) -> None:
        original_init(self, account_id, snapshot)
        self.block_size = AWS_BLOCK_SIZE

    ebs_models.EBSSnapshot.__init__ = init


# ---- ec2-snapshots --------------------------------------------------------------------
# AWS: a snapshot taken by EC2 CreateSnapshot/CreateSnapshots is readable through the
# EBS direct API, and one of a volume created from snapshot A holds A's data (AWS's
# example: "Snapshot D is created from EBS volume 1 [made from A]. Snapshot D is an
# incremental snapshot of A"). moto's EBS backend knows only the snapshots that
# StartSnapshot made: any other id is a KeyError (HTTP 500). The patch looks an unknown
# id up in moto's EC2 backend and gives it the blocks of the snapshot its volume was
# created from (moto volumes are never written, so that is all the data they hold);
# the blocks are shared, not copied, as in a lineage.
class SnapshotsWithEc2(dict):  # type: ignore[type-arg]
    def __init__(self, backend: Any):
        super().__init__()
        self.backend = backend

    def __missing__(self, snapshot_id: str) -> Any:
        ec2_snapshot = self.backend.ec2_backend.snapshots.get(snapshot_id)
        if ec2_snapshot is None:
            # AWS answers an unknown snapshot with ResourceNotFoundException.
            raise EbsError("ResourceNotFoundException", "SNAPSHOT_NOT_FOUND", f"The snapshot '{snapshot_id}' does not exist.")
        snapshot = ebs_models.EBSSnapshot(self.backend.account_id, ec2_snapshot)
        snapshot.status = ec2_snapshot.status
        source_id = ec2_snapshot.volume.snapshot_id
        if source_id:
            source = self[source_id]
            snapshot.blocks = dict(source.blocks)
            snapshot.lineage = lineage_of(source)
        else:
            snapshot.lineage = ec2_snapshot.volume.id
        self[snapshot_id] = snapshot
        return snapshot


def patch_ec2_snapshots(_: "Options") -> None:
    original_init = ebs_models.EBSBackend.__init__

    def init(self: Any, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        self.snapshots = SnapshotsWithEc2(self)

    ebs_models.EBSBackend.__init__ = init


# ---- changed-blocks ---------------------------------------------------------------------
# AWS: StartSnapshot with ParentSnapshotId starts "an incremental snapshot of an
# existing one": the child holds the parent's blocks plus those written to it.
# ListChangedBlocks lists "the blocks that are different between two snapshots of the
# same volume and snapshot lineage", every index held by either: FirstBlockToken "is
# absent if the first snapshot does not have the changed block that is on the second
# snapshot"; unrelated snapshots are refused (ValidationException UNRELATED_SNAPSHOTS).
# moto ignores ParentSnapshotId (a child holds only what was written to it) and
# iterates over the first snapshot's blocks only, so a block written only to the
# second is never listed, and every block the child inherited looks removed.
# Here a block is changed when the two snapshots do not share it: one of them wrote
# it after they parted (moto compared bytes). AWS does not say whether a block
# rewritten with the same bytes counts; here it does, which can only make an
# incremental reader fetch a block more, never miss one.
def patch_changed_blocks(_: "Options") -> None:
    original_start = ebs_responses.EBSResponse.start_snapshot

    def start_snapshot(self: Any) -> ActionResult:
        answer = original_start(self)
        snapshot = self.ebs_backend.snapshots[answer.result["SnapshotId"]]
        parent_id = self._get_param("ParentSnapshotId")
        if parent_id:
            parent = self.ebs_backend.snapshots[parent_id]
            snapshot.blocks.update(parent.blocks)
            snapshot.lineage = lineage_of(parent)
        else:
            snapshot.lineage = snapshot.snapshot_id
        return answer

    def list_changed_blocks(self: Any, first_snapshot_id: Optional[str], second_snapshot_id: str) -> Any:
        second = self.snapshots[second_snapshot_id]
        first_blocks: dict = {}  # type: ignore[type-arg]
        if first_snapshot_id:
            first = self.snapshots[first_snapshot_id]
            if lineage_of(first) != lineage_of(second):
                raise EbsError("ValidationException", "UNRELATED_SNAPSHOTS", "The snapshots are not of the same lineage.")
            first_blocks = first.blocks
        changed = {}
        for index in set(first_blocks) | set(second.blocks):
            in_first, in_second = first_blocks.get(index), second.blocks.get(index)
            if in_first is not in_second:
                changed[index] = (
                    in_first.block_token if in_first else None,
                    in_second.block_token if in_second else None,
                )
        return changed, second

    ebs_responses.EBSResponse.start_snapshot = start_snapshot
    ebs_models.EBSBackend.list_changed_blocks = list_changed_blocks


# ---- block-pages --------------------------------------------------------------------------
# AWS: ListSnapshotBlocks and ListChangedBlocks return integer block indexes "unique,
# and in numerical order", at most MaxResults (100..10000) a page from
# StartingBlockIndex, with a NextToken while more remain; each answer carries block
# tokens and their ExpiryTime ("Block tokens ... are temporary"), and GetSnapshotBlock
# requires the token of that block. moto returns every block in one page in the order
# they were written, no ExpiryTime, and GetSnapshotBlock ignores BlockToken. The patch
# pages and sorts the lists and issues tokens that name the snapshot, the block and
# the expiry; GetSnapshotBlock refuses any other
# (ValidationException INVALID_BLOCK_TOKEN: AWS does not document which reason an
# expired token gets; that is the documented one that fits). The token lifetime is the
# launcher's --block-token-seconds, so a test can let tokens expire.
def _encode(*parts: object) -> str:
    return base64.b64encode(":".join(str(p) for p in parts).encode()).decode()


def _decode(token: Optional[str]) -> list[str]:
    try:
        return base64.b64decode(token or "", validate=True).decode().split(":")
    except (binascii.Error, UnicodeDecodeError):
        return []


def _not_expired(expiry: str) -> bool:
    try:
        return float(expiry) >= time.time()
    except ValueError:
        return False


def _page(response: Any, indexes: list[int]) -> tuple[list[int], Optional[str]]:
    """The indexes of this page (sorted) and the NextToken for the rest, if any."""
    next_token = response._get_param("NextToken")
    if next_token is not None:
        parts = _decode(next_token)
        if len(parts) != 2 or parts[0] != "page" or not parts[1].isdigit():
            raise EbsError("ValidationException", "INVALID_PAGE_TOKEN", "The pagination token is not valid.")
        start = int(parts[1])
    else:
        start = int(response._get_param("StartingBlockIndex") or 0)
    limit = min(max(int(response._get_param("MaxResults") or MAX_RESULTS), MIN_RESULTS), MAX_RESULTS)
    selected = [i for i in sorted(indexes) if i >= start][: limit + 1]
    rest = selected[limit:]
    return selected[:limit], (_encode("page", rest[0]) if rest else None)


def patch_block_pages(options: "Options") -> None:
    def block_token(snapshot_id: str, index: int, expiry: float) -> str:
        return _encode(snapshot_id, index, f"{expiry:.3f}")

    def page_answer(key: str, blocks: list[dict[str, Any]], expiry: float, snapshot: Any, next_token: Optional[str]) -> ActionResult:
        """A page as both list calls answer it: the blocks, when their tokens expire, the volume's geometry."""
        answer: dict[str, Any] = {
            key: blocks,
            "ExpiryTime": datetime.fromtimestamp(expiry, tz=timezone.utc),
            "VolumeSize": snapshot.volume_size,
            "BlockSize": snapshot.block_size,
        }
        if next_token:
            answer["NextToken"] = next_token
        return ActionResult(answer)

    def list_snapshot_blocks(self: Any) -> ActionResult:
        snapshot = self.ebs_backend.list_snapshot_blocks(snapshot_id=self._get_param("SnapshotId"))
        page, next_token = _page(self, list(snapshot.blocks))
        expiry = time.time() + options.block_token_seconds
        blocks = [{"BlockIndex": i, "BlockToken": block_token(snapshot.snapshot_id, i, expiry)} for i in page]
        return page_answer("Blocks", blocks, expiry, snapshot, next_token)

    def list_changed_blocks(self: Any) -> ActionResult:
        first_id = self._get_param("FirstSnapshotId")
        second_id = self._get_param("SecondSnapshotId")
        by_index, snapshot = self.ebs_backend.list_changed_blocks(first_snapshot_id=first_id, second_snapshot_id=second_id)
        page, next_token = _page(self, list(by_index))
        expiry = time.time() + options.block_token_seconds
        blocks: list[dict[str, Any]] = []
        for i in page:
            first_token, second_token = by_index[i]
            block: dict[str, Any] = {"BlockIndex": i}
            if first_token:
                block["FirstBlockToken"] = block_token(first_id, i, expiry)
            if second_token:
                block["SecondBlockToken"] = block_token(second_id, i, expiry)
            blocks.append(block)
        return page_answer("ChangedBlocks", blocks, expiry, snapshot, next_token)

    original_get = ebs_responses.EBSResponse.get_snapshot_block

    def get_snapshot_block(self: Any) -> ActionResult:
        snapshot_id, index = self._get_param("SnapshotId"), self._get_param("BlockIndex")
        parts = _decode(self._get_param("BlockToken"))
        names_this_block = len(parts) == 3 and parts[0] == snapshot_id and parts[1] == str(index)
        if not names_this_block or not _not_expired(parts[2]):
            raise EbsError("ValidationException", "INVALID_BLOCK_TOKEN", "The block token is not valid for this block or has expired.")
        return original_get(self)

    ebs_responses.EBSResponse.list_snapshot_blocks = list_snapshot_blocks
    ebs_responses.EBSResponse.list_changed_blocks = list_changed_blocks
    ebs_responses.EBSResponse.get_snapshot_block = get_snapshot_block


class Options:
    def __init__(self, block_token_seconds: float):
        self.block_token_seconds = block_token_seconds


def inject_corrupt_block_reads(count: int) -> None:
    """A fault, not a patch: the first `count` GetSnapshotBlock answers carry their
    block with one byte flipped and the checksum of the true bytes, as a bit flipped
    between the service and the client would arrive. For the tests that a reader
    checks every block and reads it again; off unless the launcher is asked."""
    left = [count]
    original_get = ebs_responses.EBSResponse.get_snapshot_block

    def get_snapshot_block(self: Any) -> ActionResult:
        answer = original_get(self)
        body = answer.result
        if left[0] > 0 and isinstance(body, dict) and body.get("BlockData"):
            left[0] -= 1
            data = bytearray(body["BlockData"])
            data[len(data) // 2] ^= 0x01
            body = {**body, "BlockData": bytes(data)}
            return ActionResult(body)
        return answer

    ebs_responses.EBSResponse.get_snapshot_block = get_snapshot_block


PATCHES: dict[str, Callable[[Options], None]] = {
    "block-size": patch_block_size,
    "block-pages": patch_block_pages,
    "changed-blocks": patch_changed_blocks,
    "ec2-snapshots": patch_ec2_snapshots,
}


def apply(names: list[str], options: Options) -> None:
    for name in names:
        PATCHES[name](options)
