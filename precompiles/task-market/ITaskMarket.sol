// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title OpenGPU task market (batch tasks)
/// @notice Native precompile at 0x4f47505500000000000000000000000000000004.
///
/// Life of a task: `submitTask` (Open; the deposit is held here) -> providers `commitBid`
/// (Bidding) until `commitEnd`, then `revealBid` until `revealEnd` -> anyone calls
/// `closeAuction`: the lowest revealed bid wins (ties: earlier commit, then higher stake)
/// (Assigned) -> the winner `commitResult`s the hash of its canonical output bytes and its
/// environment fingerprint (Executed) -> from the next block on anyone calls `drawCommittee`,
/// which draws the committee from active providers, weighted by stake, excluding the executor,
/// with that block's prevRandao (Verifying) -> committee members re-execute and sign BLS
/// attestations off chain; an aggregate reaching the quorum goes on chain with `settle`
/// (Settled, or Reassigned to the next-lowest bidder after a slash, or Failed). `timeout`
/// handles a missed execution or verification deadline. `cancelTask` refunds before the award.
///
/// Block validity: in an OpenGPU block, a transaction calling `settle` that does not succeed
/// makes the block invalid (docs/decisions/0011), so a block cannot carry a settlement without
/// a valid committee quorum.
interface ITaskMarket {
    enum State {
        None,
        Open,
        Bidding,
        Assigned,
        Executed,
        Verifying,
        Settled,
        Reassigned,
        Failed,
        Cancelled
    }

    /// Committee verdicts. Accept: the output is right under the policy. Reject: it is not.
    /// InvalidTask: the task cannot run (model fails to load, input does not match its spec).
    enum Verdict {
        None,
        Accept,
        Reject,
        InvalidTask
    }

    /// Same encoding as IModelRegistry.Policy.
    struct Policy {
        uint8 kind;
        uint32 rtolPpb;
        uint32 atolPpb;
        uint8 topK;
    }

    /// How the verification fee is split among the committee members in the quorum:
    /// kind 0 equally, kind 1 by stake.
    struct Payment {
        uint8 kind;
        uint256 verificationFee;
    }

    struct TaskRequest {
        bytes32 model;
        /// sha256 of the canonical input bytes.
        bytes32 inputHash;
        /// The canonical input bytes inline (emitted in TaskSubmitted), or empty when providers
        /// fetch them by hash over the p2p blob protocol.
        bytes input;
        uint256 maxPrice;
        /// Seconds for sealed bids (commit phase); the reveal phase follows (revealWindow).
        uint64 biddingWindow;
        /// Seconds an assigned provider has to commit its result.
        uint64 executionTimeout;
        /// Timestamp after which an unsettled task fails and is refunded.
        uint64 deadline;
        uint8 committeeSize;
        Policy policy;
        Payment payment;
    }

    struct Task {
        uint256 id;
        address client;
        State state;
        bytes32 model;
        bytes32 inputHash;
        uint256 deposit;
        uint256 maxPrice;
        uint64 submittedAt;
        uint64 commitEnd;
        uint64 revealEnd;
        uint64 executionTimeout;
        uint64 deadline;
        uint8 committeeSize;
        Policy policy;
        bytes32 policyHash;
        Payment payment;
        uint32 round;
        address provider;
        uint256 price;
        uint64 executionDeadline;
        bytes32 outputCommitment;
        bytes32 environment;
        uint64 executedAt;
        address[] committee;
        uint64 verifyDeadline;
        Verdict verdict;
        uint64 closedAt;
    }

    struct Bid {
        address provider;
        bytes32 commitment;
        uint64 committedAt;
        bool revealed;
        uint256 price;
        /// Lost an earlier round (slashed or timed out): never assigned again.
        bool excluded;
    }

    /// A group of committee attestations with one verdict: `signers` is a bitmap over the
    /// committee (bit i = committee[i]), `signature` their aggregate BLS signature over
    /// `attestationMessage(taskId, round, outputCommitment, verdict)`.
    struct Vote {
        Verdict verdict;
        bytes32 outputCommitment;
        uint256 signers;
        bytes signature;
    }

    struct Params {
        uint256 minProviderStake;
        uint64 unbondingPeriod;
        uint64 minBiddingWindow;
        uint64 revealWindow;
        uint64 verifyWindow;
        uint8 maxCommitteeSize;
        uint16 quorumBps;
        uint32 maxRounds;
        uint32 maxInlineInput;
        uint256 minFeePerMember;
        uint16 rejectSlashBps;
        uint16 missSlashBps;
        uint16 dissentSlashBps;
        uint16 invalidTaskSlashBps;
        uint64 jailPeriod;
        uint16 validatorBonusBps;
        uint64 validatorProofTtl;
    }

    event TaskSubmitted(
        uint256 indexed taskId,
        address indexed client,
        bytes32 indexed model,
        bytes32 inputHash,
        uint256 deposit,
        uint256 maxPrice,
        bytes input
    );
    event TaskStateChanged(uint256 indexed taskId, State from, State to, uint32 round);
    event BidCommitted(uint256 indexed taskId, address indexed provider, bytes32 commitment);
    event BidRevealed(uint256 indexed taskId, address indexed provider, uint256 price);
    event TaskAssigned(uint256 indexed taskId, address indexed provider, uint256 price, uint32 round, uint64 executionDeadline);
    event ResultCommitted(uint256 indexed taskId, address indexed provider, bytes32 outputCommitment, bytes32 environment, uint32 round);
    event CommitteeDrawn(uint256 indexed taskId, uint32 round, address[] members, uint64 verifyDeadline);
    event TaskSettled(uint256 indexed taskId, uint32 round, Verdict verdict, uint256 providerPaid, uint256 committeePaid, uint256 refunded);
    event CommitteePaid(uint256 indexed taskId, address indexed member, uint256 amount);
    event Burned(uint256 indexed taskId, uint256 amount);
    /// A provider that also validates (fresh IProviderRegistry.proveValidator) is paid a bonus on
    /// an accepted task, out of the released part of the provider-rewards pool.
    event ValidatorBonusPaid(uint256 indexed taskId, address indexed provider, uint256 amount);

    function submitTask(TaskRequest calldata request) external payable returns (uint256 taskId);

    function cancelTask(uint256 taskId) external;

    /// commitment = keccak256(abi.encode(taskId, msg.sender, price, salt))
    function commitBid(uint256 taskId, bytes32 commitment) external;

    function revealBid(uint256 taskId, uint256 price, bytes32 salt) external;

    function closeAuction(uint256 taskId) external;

    function commitResult(uint256 taskId, bytes32 outputCommitment, bytes32 environment) external;

    function drawCommittee(uint256 taskId) external;

    function settle(uint256 taskId, uint32 round, Vote[] calldata votes) external;

    function timeout(uint256 taskId) external;

    function getTask(uint256 taskId) external view returns (Task memory);

    function getBids(uint256 taskId) external view returns (Bid[] memory);

    function taskCount() external view returns (uint256);

    function params() external view returns (Params memory);

    /// The bytes committee members sign: "OGPUATT1" ++ keccak256(abi.encode(chainid, this,
    /// taskId, round, outputCommitment, verdict, policyHash)).
    function attestationMessage(uint256 taskId, uint32 round, bytes32 outputCommitment, Verdict verdict)
        external
        view
        returns (bytes memory);

    function policyHash(Policy calldata policy) external pure returns (bytes32);
}
