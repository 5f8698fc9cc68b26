// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title OpenGPU validator deposit contract
/// @notice Where validators lock oGPU stake. Every accepted deposit emits one `DepositEvent`,
/// which the execution layer turns into an EIP-6110 deposit request for the consensus layer,
/// and is appended as a leaf to an incremental SSZ Merkle tree (depth 32, sha256) whose root
/// `get_deposit_root` returns. The external interface (functions, event, revert reasons,
/// ERC-165 ids, log layout) is the one Ethereum staking tools expect from a deposit contract.
/// @dev The contract keeps no constructor state: zero-subtree hashes are derived while the root
/// is computed, so the genesis builder can place this runtime code at its system address with
/// empty storage. Deposited oGPU never leaves the contract; the consensus layer accounts for it.
interface IERC165 {
    function supportsInterface(bytes4 interfaceId) external pure returns (bool);
}

interface IDepositContract {
    /// @notice Emitted for each deposit. Every field is SSZ-encoded bytes: `amount` is the
    /// deposit in Gwei and `index` the leaf index, both as 8-byte little-endian integers.
    event DepositEvent(bytes pubkey, bytes withdrawal_credentials, bytes amount, bytes signature, bytes index);

    /// @notice Locks `msg.value` as stake for the validator `pubkey`.
    /// @param pubkey BLS12-381 public key, 48 bytes.
    /// @param withdrawal_credentials 32 bytes (0x01/0x02 prefix plus an execution address, or 0x00 BLS).
    /// @param signature BLS12-381 signature over the deposit message, 96 bytes.
    /// @param deposit_data_root SSZ hash tree root of the DepositData, checked against the other arguments.
    function deposit(
        bytes calldata pubkey,
        bytes calldata withdrawal_credentials,
        bytes calldata signature,
        bytes32 deposit_data_root
    ) external payable;

    /// @notice SSZ root of the list of deposit data roots: Merkle root mixed in with the count.
    function get_deposit_root() external view returns (bytes32);

    /// @notice Number of deposits so far, as 8-byte little-endian bytes.
    function get_deposit_count() external view returns (bytes memory);
}

contract DepositContract is IDepositContract, IERC165 {
    uint256 private constant TREE_DEPTH = 32;
    /// @dev One leaf is always left unused so that a full tree never needs height 32 in `branch`.
    uint256 private constant MAX_DEPOSITS = (1 << TREE_DEPTH) - 1;
    uint256 private constant MIN_DEPOSIT = 1 ether; // 1 oGPU
    uint256 private constant GWEI = 1 gwei;

    /// @dev For each height h, the root of the most recently completed left subtree of height h
    /// on the path to the next free leaf. Only the entries the next insertion can pair with matter.
    bytes32[TREE_DEPTH] private branch;
    /// @dev Number of leaves inserted so far.
    uint256 private depositCount;

    function deposit(
        bytes calldata pubkey,
        bytes calldata withdrawal_credentials,
        bytes calldata signature,
        bytes32 deposit_data_root
    ) external payable override {
        require(pubkey.length == 48, "DepositContract: invalid pubkey length");
        require(withdrawal_credentials.length == 32, "DepositContract: invalid withdrawal_credentials length");
        require(signature.length == 96, "DepositContract: invalid signature length");
        require(msg.value >= MIN_DEPOSIT, "DepositContract: deposit value too low");
        require(msg.value % GWEI == 0, "DepositContract: deposit value not multiple of gwei");
        uint256 gweiAmount = msg.value / GWEI;
        require(gweiAmount <= type(uint64).max, "DepositContract: deposit value too high");

        bytes memory amount = littleEndian64(uint64(gweiAmount));
        uint256 index = depositCount;
        bytes32 leaf = depositDataRoot(pubkey, withdrawal_credentials, amount, signature);
        require(
            leaf == deposit_data_root,
            "DepositContract: reconstructed DepositData does not match supplied deposit_data_root"
        );
        require(index < MAX_DEPOSITS, "DepositContract: merkle tree full");

        emit DepositEvent(pubkey, withdrawal_credentials, amount, signature, littleEndian64(uint64(index)));
        insertLeaf(leaf, index + 1);
    }

    function get_deposit_root() external view override returns (bytes32) {
        uint256 count = depositCount;
        uint256 remaining = count;
        bytes32 node; // root of the subtree of the current height that holds the last leaf
        bytes32 empty; // root of an all-zero subtree of the current height
        for (uint256 height = 0; height < TREE_DEPTH; height++) {
            if (remaining & 1 == 1) {
                node = sha256(abi.encodePacked(branch[height], node));
            } else {
                node = sha256(abi.encodePacked(node, empty));
            }
            empty = sha256(abi.encodePacked(empty, empty));
            remaining >>= 1;
        }
        // SSZ list root: mix in the length as a little-endian uint256.
        return sha256(abi.encodePacked(node, littleEndian64(uint64(count)), bytes24(0)));
    }

    function get_deposit_count() external view override returns (bytes memory) {
        return littleEndian64(uint64(depositCount));
    }

    function supportsInterface(bytes4 interfaceId) external pure override returns (bool) {
        return interfaceId == type(IERC165).interfaceId || interfaceId == type(IDepositContract).interfaceId;
    }

    /// @dev Stores leaf number `size` (1-based): walks up while the new leaf completes a right
    /// child, then records the completed subtree at the first height where it is a left child.
    function insertLeaf(bytes32 leaf, uint256 size) private {
        depositCount = size;
        bytes32 node = leaf;
        for (uint256 height = 0; height < TREE_DEPTH; height++) {
            if (size & 1 == 1) {
                branch[height] = node;
                return;
            }
            node = sha256(abi.encodePacked(branch[height], node));
            size >>= 1;
        }
        // size < 2**32 always has a set bit below height 32.
        assert(false);
    }

    /// @dev SSZ hash tree root of DepositData {pubkey: Bytes48, withdrawal_credentials: Bytes32,
    /// amount: uint64, signature: Bytes96}: four field roots, merkleized pairwise.
    function depositDataRoot(
        bytes calldata pubkey,
        bytes calldata withdrawal_credentials,
        bytes memory amount,
        bytes calldata signature
    ) private pure returns (bytes32) {
        // Bytes48 spans two chunks, the second zero-padded.
        bytes32 pubkeyRoot = sha256(abi.encodePacked(pubkey, bytes16(0)));
        // Bytes96 spans three chunks, padded to four.
        bytes32 signatureRoot = sha256(
            abi.encodePacked(
                sha256(abi.encodePacked(signature[0:64])),
                sha256(abi.encodePacked(signature[64:96], bytes32(0)))
            )
        );
        bytes32 left = sha256(abi.encodePacked(pubkeyRoot, withdrawal_credentials));
        bytes32 right = sha256(abi.encodePacked(amount, bytes24(0), signatureRoot));
        return sha256(abi.encodePacked(left, right));
    }

    /// @dev `value` as 8 bytes, least significant byte first.
    function littleEndian64(uint64 value) private pure returns (bytes memory) {
        uint64 v = value;
        v = ((v & 0xFF00FF00FF00FF00) >> 8) | ((v & 0x00FF00FF00FF00FF) << 8);
        v = ((v & 0xFFFF0000FFFF0000) >> 16) | ((v & 0x0000FFFF0000FFFF) << 16);
        v = (v >> 32) | (v << 32);
        return abi.encodePacked(bytes8(v));
    }
}
