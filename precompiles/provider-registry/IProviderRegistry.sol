// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title OpenGPU provider registry and staking
/// @notice Native precompile at 0x4f47505500000000000000000000000000000002. Providers stake oGPU
/// (msg.value, held by this address), register a BLS public key (with a proof of possession)
/// that signs their committee attestations, describe their GPU and the models they serve, and
/// unbond with a delay. Stake is slashed by the task market (see ITaskMarket).
interface IProviderRegistry {
    /// None: never registered. Active: stake >= minimumStake, not jailed. Jailed: slashed
    /// recently, may not bid or verify until `jailedUntil`. Slashed: stake below the minimum
    /// after slashing. Inactive: stake below the minimum after unbonding.
    enum Status {
        None,
        Active,
        Jailed,
        Slashed,
        Inactive
    }

    struct Gpu {
        string device;
        uint64 memoryMiB;
        /// "cuda" or "cpu"
        string executionProvider;
    }

    struct Provider {
        address account;
        Status status;
        uint256 stake;
        uint256 unbonding;
        uint64 withdrawableAt;
        bytes blsPubkey;
        Gpu gpu;
        bytes32[] models;
        uint256 price;
        string peerId;
        uint64 registeredAt;
        uint64 jailedUntil;
        uint256 slashed;
    }

    event ProviderRegistered(address indexed provider, bytes blsPubkey, uint256 stake, string peerId);
    event StakeAdded(address indexed provider, uint256 amount, uint256 stake);
    event ServiceUpdated(address indexed provider, bytes32[] models, uint256 price, string peerId);
    event UnbondStarted(address indexed provider, uint256 amount, uint256 stake, uint64 withdrawableAt);
    event Withdrawn(address indexed provider, uint256 amount);
    event ProviderSlashed(address indexed provider, uint256 indexed taskId, uint256 amount, string reason);
    event ProviderJailed(address indexed provider, uint64 until);
    event ValidatorProven(address indexed provider, uint64 validatorIndex, uint64 beaconTimestamp);

    /// A beacon-chain validator record (Electra `Validator`), as proven by `proveValidator`.
    struct BeaconValidator {
        bytes pubkey;
        bytes32 withdrawalCredentials;
        uint64 effectiveBalance;
        bool slashed;
        uint64 activationEligibilityEpoch;
        uint64 activationEpoch;
        uint64 exitEpoch;
        uint64 withdrawableEpoch;
    }

    /// Registers msg.sender with msg.value as stake (>= minimumStake). `popSignature` is a BLS
    /// signature by `blsPubkey` over
    /// "OpenGPU provider PoP" ++ uint256(chainid) ++ msg.sender ++ blsPubkey (the POP scheme DST).
    function register(
        bytes calldata blsPubkey,
        bytes calldata popSignature,
        Gpu calldata gpu,
        bytes32[] calldata models,
        uint256 price,
        string calldata peerId
    ) external payable;

    function addStake() external payable;

    function updateService(bytes32[] calldata models, uint256 price, string calldata peerId) external;

    /// Moves `amount` from stake to unbonding; withdrawable after the unbonding period. Unbonding
    /// stake stays slashable.
    function unbond(uint256 amount) external;

    /// Pays out unbonded stake whose delay has passed.
    function withdraw() external;

    /// Proves that msg.sender's registered BLS key is a beacon-chain validator that is activated,
    /// not exiting and not slashed: `branch` is the Merkle branch (50 sibling roots, leaf first)
    /// of `validator` at `validatorIndex` in the state of the beacon block whose root the
    /// EIP-4788 contract holds for `beaconTimestamp` (so the proof is at most ~8191 s old).
    /// While the proof is fresh (TaskMarket params validatorProofTtl) the provider earns the
    /// validator bonus on the tasks it completes.
    function proveValidator(
        uint64 beaconTimestamp,
        uint64 validatorIndex,
        BeaconValidator calldata validator,
        bytes32[] calldata branch
    ) external;

    /// The provider's last validator proof: index and block timestamp (0 when never proven).
    function validatorOf(address provider) external view returns (uint64 validatorIndex, uint64 provenAt);

    function getProvider(address provider) external view returns (Provider memory);

    function providerCount() external view returns (uint256);

    function providerAt(uint256 index) external view returns (address);

    function minimumStake() external view returns (uint256);
}
