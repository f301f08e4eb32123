// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A token as the earliest ones were written: its Transfer event indexes nothing, so the sender,
/// the recipient and the amount are all in the log's data.
contract OldToken {
    mapping(address => uint256) public balanceOf;

    event Transfer(address from, address to, uint256 value);

    constructor(uint256 supply) {
        balanceOf[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        emit Transfer(msg.sender, to, value);
        return true;
    }
}
