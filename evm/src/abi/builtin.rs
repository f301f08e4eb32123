//! The function signatures built in, for contracts whose ABI nobody supplied: the contracts
//! most calls go to (ERC-20, ERC-721, ERC-1155, WETH, Uniswap V2 and V3 routers, Aave V2 and V3
//! pools).

use alloy_json_abi::Function;

/// The signatures built in, for contracts whose ABI nobody supplied.
pub(super) const BUILTIN: &[&str] = &[
    // ERC-20 (and WETH, which is one)
    "function transfer(address to, uint256 value) returns (bool)",
    "function transferFrom(address from, address to, uint256 value) returns (bool)",
    "function approve(address spender, uint256 value) returns (bool)",
    "function increaseAllowance(address spender, uint256 addedValue) returns (bool)",
    "function decreaseAllowance(address spender, uint256 subtractedValue) returns (bool)",
    // ERC-721 and ERC-1155 transfers and approvals (ERC-721's transferFrom and approve are
    // ERC-20's signatures)
    "function safeTransferFrom(address from, address to, uint256 tokenId)",
    "function safeTransferFrom(address from, address to, uint256 tokenId, bytes data)",
    "function setApprovalForAll(address operator, bool approved)",
    "function safeTransferFrom(address from, address to, uint256 id, uint256 value, bytes data)",
    "function safeBatchTransferFrom(address from, address to, uint256[] ids, uint256[] values, bytes data)",
    // WETH9
    "function deposit()",
    "function withdraw(uint256 wad)",
    // Uniswap V2 Router02
    "function addLiquidity(address tokenA, address tokenB, uint256 amountADesired, uint256 amountBDesired, uint256 amountAMin, uint256 amountBMin, address to, uint256 deadline)",
    "function addLiquidityETH(address token, uint256 amountTokenDesired, uint256 amountTokenMin, uint256 amountETHMin, address to, uint256 deadline)",
    "function removeLiquidity(address tokenA, address tokenB, uint256 liquidity, uint256 amountAMin, uint256 amountBMin, address to, uint256 deadline)",
    "function removeLiquidityETH(address token, uint256 liquidity, uint256 amountTokenMin, uint256 amountETHMin, address to, uint256 deadline)",
    "function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapTokensForExactTokens(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline)",
    "function swapExactETHForTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapTokensForExactETH(uint256 amountOut, uint256 amountInMax, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForETH(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapETHForExactTokens(uint256 amountOut, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForTokensSupportingFeeOnTransferTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapExactETHForTokensSupportingFeeOnTransferTokens(uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    "function swapExactTokensForETHSupportingFeeOnTransferTokens(uint256 amountIn, uint256 amountOutMin, address[] path, address to, uint256 deadline)",
    // Uniswap V3 SwapRouter (tuple component names: V3_PARAMS)
    "function exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160) params)",
    "function exactInput((bytes,address,uint256,uint256,uint256) params)",
    "function exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160) params)",
    "function exactOutput((bytes,address,uint256,uint256,uint256) params)",
    "function multicall(bytes[] data)",
    "function multicall(uint256 deadline, bytes[] data)",
    // Aave V2 LendingPool and V3 Pool (V3 keeps V2's withdraw/borrow/repay/liquidationCall)
    "function deposit(address asset, uint256 amount, address onBehalfOf, uint16 referralCode)",
    "function withdraw(address asset, uint256 amount, address to) returns (uint256)",
    "function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)",
    "function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf) returns (uint256)",
    "function liquidationCall(address collateralAsset, address debtAsset, address user, uint256 debtToCover, bool receiveAToken)",
    "function flashLoan(address receiverAddress, address[] assets, uint256[] amounts, uint256[] interestRateModes, address onBehalfOf, bytes params, uint16 referralCode)",
    "function setUserUseReserveAsCollateral(address asset, bool useAsCollateral)",
    "function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode)",
    "function repayWithATokens(address asset, uint256 amount, uint256 interestRateMode) returns (uint256)",
    "function flashLoanSimple(address receiverAddress, address asset, uint256 amount, bytes params, uint16 referralCode)",
];

/// Names of the tuple components of Uniswap V3's `params` (the human-readable signature
/// parser takes only unnamed tuple components).
const V3_PARAMS: &[(&str, &[&str])] = &[
    (
        "exactInputSingle",
        &[
            "tokenIn",
            "tokenOut",
            "fee",
            "recipient",
            "deadline",
            "amountIn",
            "amountOutMinimum",
            "sqrtPriceLimitX96",
        ],
    ),
    (
        "exactInput",
        &["path", "recipient", "deadline", "amountIn", "amountOutMinimum"],
    ),
    (
        "exactOutputSingle",
        &[
            "tokenIn",
            "tokenOut",
            "fee",
            "recipient",
            "deadline",
            "amountOut",
            "amountInMaximum",
            "sqrtPriceLimitX96",
        ],
    ),
    (
        "exactOutput",
        &["path", "recipient", "deadline", "amountOut", "amountInMaximum"],
    ),
];

/// A built-in signature, with V3 tuple component names filled in.
pub(super) fn builtin_function(signature: &str) -> Result<Function, String> {
    let mut f = Function::parse(signature).map_err(|e| e.to_string())?;
    if let Some((_, names)) = V3_PARAMS.iter().find(|(n, _)| *n == f.name) {
        if let Some(p) = f.inputs.first_mut() {
            for (c, name) in p.components.iter_mut().zip(names.iter()) {
                c.name = name.to_string();
            }
        }
    }
    Ok(f)
}
