// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title OpenGPU model registry
/// @notice Native precompile at 0x4f47505500000000000000000000000000000003. A model is named by
/// the sha256 of its ONNX bytes; the bytes travel over the p2p blob protocol and every node
/// checks the hash. Registration records the tensor interface and a default verification policy.
interface IModelRegistry {
    /// dtype: ONNX TensorProto data type (1 float32, 2 uint8, 3 int8, 6 int32, 7 int64,
    /// 9 bool, 11 float64). dims: -1 for a dynamic dimension.
    struct TensorSpec {
        string name;
        uint8 dtype;
        int64[] dims;
    }

    /// kind: 0 exact (bitwise output commitment), 1 tolerance
    /// (|a-b| <= rtol*|b| + atol*max(1, max|b|) and top-k agreement outside near-ties), 2 int8 exact.
    /// rtolPpb / atolPpb in parts per billion; topK 0 = no top-k check, 1 = argmax.
    struct Policy {
        uint8 kind;
        uint32 rtolPpb;
        uint32 atolPpb;
        uint8 topK;
    }

    struct Model {
        bytes32 sha256;
        uint64 size;
        string name;
        address registrant;
        uint64 registeredAt;
        TensorSpec[] inputs;
        TensorSpec[] outputs;
        Policy policy;
    }

    event ModelRegistered(bytes32 indexed sha256, address indexed registrant, uint64 size, string name);

    function registerModel(
        bytes32 sha256,
        uint64 size,
        string calldata name,
        TensorSpec[] calldata inputs,
        TensorSpec[] calldata outputs,
        Policy calldata policy
    ) external;

    function getModel(bytes32 sha256) external view returns (Model memory);

    function isRegistered(bytes32 sha256) external view returns (bool);

    function modelCount() external view returns (uint256);

    function modelAt(uint256 index) external view returns (bytes32);
}
