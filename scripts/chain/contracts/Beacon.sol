// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Emits an anonymous event (no selector topic: no decoder can name it), and one that is rolled
/// back by a revert (its log must never land).
contract Beacon {
    uint256 public pings;

    event Ping(address indexed sender, uint256 n) anonymous;
    event Pinged(address indexed sender, uint256 n);

    function ping() external {
        emit Ping(msg.sender, ++pings);
    }

    function pingThenRevert() external {
        emit Pinged(msg.sender, ++pings);
        revert("rolled back");
    }
}
