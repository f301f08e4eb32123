// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IERC20Like {
    function transfer(address, uint256) external returns (bool);
    function transferFrom(address, address, uint256) external returns (bool);
}

/// An Aave-shaped lending pool for the fixture chain: Aave V3's function and event signatures,
/// moving real tokens, with none of its risk accounting (a liquidation pays 5% bonus collateral).
contract LendingPool {
    event Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode);
    event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
    event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode);
    event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens);
    event LiquidationCall(address indexed collateralAsset, address indexed debtAsset, address indexed user, uint256 debtToCover, uint256 liquidatedCollateralAmount, address liquidator, bool receiveAToken);

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external {
        IERC20Like(asset).transferFrom(msg.sender, address(this), amount);
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        IERC20Like(asset).transfer(to, amount);
        emit Withdraw(asset, msg.sender, to, amount);
        return amount;
    }

    function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf) external {
        IERC20Like(asset).transfer(msg.sender, amount);
        emit Borrow(asset, msg.sender, onBehalfOf, amount, uint8(interestRateMode), 3e25, referralCode);
    }

    function repay(address asset, uint256 amount, uint256, address onBehalfOf) external returns (uint256) {
        IERC20Like(asset).transferFrom(msg.sender, address(this), amount);
        emit Repay(asset, onBehalfOf, msg.sender, amount, false);
        return amount;
    }

    function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken) external {
        IERC20Like(debtAsset).transferFrom(msg.sender, address(this), debtToCover);
        uint256 collateral = debtToCover * 105 / 100;
        IERC20Like(collateralAsset).transfer(msg.sender, collateral);
        emit LiquidationCall(collateralAsset, debtAsset, user, debtToCover, collateral, msg.sender, receiveAToken);
    }
}
