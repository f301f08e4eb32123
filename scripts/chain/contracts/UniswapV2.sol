// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A Uniswap-V2-shaped exchange, small enough to read: factory (CREATE2 pairs), constant-product
/// pair, and a router with the V2 function names so decoded calls look like mainnet's.
interface IERC20 {
    function balanceOf(address) external view returns (uint256);
    function transfer(address, uint256) external returns (bool);
    function transferFrom(address, address, uint256) external returns (bool);
}

interface IWETH is IERC20 {
    function deposit() external payable;
}

contract UniswapV2Pair {
    address public factory;
    address public token0;
    address public token1;
    uint112 private reserve0;
    uint112 private reserve1;
    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;

    event Mint(address indexed sender, uint256 amount0, uint256 amount1);
    event Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, uint256 amount1Out, address indexed to);
    event Sync(uint112 reserve0, uint112 reserve1);

    constructor() { factory = msg.sender; }

    function initialize(address t0, address t1) external {
        require(msg.sender == factory, "FORBIDDEN");
        token0 = t0;
        token1 = t1;
    }

    function getReserves() public view returns (uint112, uint112, uint32) {
        return (reserve0, reserve1, 0);
    }

    function mint(address to) external returns (uint256 liquidity) {
        uint256 b0 = IERC20(token0).balanceOf(address(this));
        uint256 b1 = IERC20(token1).balanceOf(address(this));
        uint256 a0 = b0 - reserve0;
        uint256 a1 = b1 - reserve1;
        liquidity = totalSupply == 0 ? sqrt(a0 * a1) : min(a0 * totalSupply / reserve0, a1 * totalSupply / reserve1);
        require(liquidity > 0, "INSUFFICIENT_LIQUIDITY_MINTED");
        balanceOf[to] += liquidity;
        totalSupply += liquidity;
        _update(b0, b1);
        emit Mint(msg.sender, a0, a1);
    }

    function swap(uint256 out0, uint256 out1, address to) external {
        require(out0 > 0 || out1 > 0, "INSUFFICIENT_OUTPUT_AMOUNT");
        require(out0 < reserve0 && out1 < reserve1, "INSUFFICIENT_LIQUIDITY");
        if (out0 > 0) IERC20(token0).transfer(to, out0);
        if (out1 > 0) IERC20(token1).transfer(to, out1);
        uint256 b0 = IERC20(token0).balanceOf(address(this));
        uint256 b1 = IERC20(token1).balanceOf(address(this));
        uint256 in0 = b0 > reserve0 - out0 ? b0 - (reserve0 - out0) : 0;
        uint256 in1 = b1 > reserve1 - out1 ? b1 - (reserve1 - out1) : 0;
        require((b0 * 1000 - in0 * 3) * (b1 * 1000 - in1 * 3) >= uint256(reserve0) * reserve1 * 1000000, "K");
        _update(b0, b1);
        emit Swap(msg.sender, in0, in1, out0, out1, to);
    }

    function _update(uint256 b0, uint256 b1) private {
        reserve0 = uint112(b0);
        reserve1 = uint112(b1);
        emit Sync(reserve0, reserve1);
    }

    function sqrt(uint256 y) private pure returns (uint256 z) {
        if (y > 3) {
            z = y;
            uint256 x = y / 2 + 1;
            while (x < z) { z = x; x = (y / x + x) / 2; }
        } else if (y != 0) {
            z = 1;
        }
    }

    function min(uint256 a, uint256 b) private pure returns (uint256) { return a < b ? a : b; }
}

contract UniswapV2Factory {
    mapping(address => mapping(address => address)) public getPair;
    address[] public allPairs;

    event PairCreated(address indexed token0, address indexed token1, address pair, uint256);

    function createPair(address tokenA, address tokenB) external returns (address pair) {
        require(tokenA != tokenB, "IDENTICAL_ADDRESSES");
        (address t0, address t1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        require(getPair[t0][t1] == address(0), "PAIR_EXISTS");
        pair = address(new UniswapV2Pair{salt: keccak256(abi.encodePacked(t0, t1))}());
        UniswapV2Pair(pair).initialize(t0, t1);
        getPair[t0][t1] = pair;
        getPair[t1][t0] = pair;
        allPairs.push(pair);
        emit PairCreated(t0, t1, pair, allPairs.length);
    }
}

contract UniswapV2Router02 {
    address public immutable factory;
    address public immutable WETH;

    constructor(address factory_, address weth_) {
        factory = factory_;
        WETH = weth_;
    }

    receive() external payable { require(msg.sender == WETH, "ETH"); }

    function addLiquidity(address tokenA, address tokenB, uint256 amountA, uint256 amountB, address to)
        external returns (uint256 liquidity)
    {
        address pair = UniswapV2Factory(factory).getPair(tokenA, tokenB);
        if (pair == address(0)) pair = UniswapV2Factory(factory).createPair(tokenA, tokenB);
        IERC20(tokenA).transferFrom(msg.sender, pair, amountA);
        IERC20(tokenB).transferFrom(msg.sender, pair, amountB);
        liquidity = UniswapV2Pair(pair).mint(to);
    }

    function getAmountOut(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 withFee = amountIn * 997;
        return withFee * reserveOut / (reserveIn * 1000 + withFee);
    }

    function swapExactTokensForTokens(uint256 amountIn, uint256 amountOutMin, address[] calldata path, address to, uint256 deadline)
        external returns (uint256 amountOut)
    {
        require(block.timestamp <= deadline, "EXPIRED");
        address pair = UniswapV2Factory(factory).getPair(path[0], path[1]);
        IERC20(path[0]).transferFrom(msg.sender, pair, amountIn);
        amountOut = _swap(pair, path[0], path[1], amountIn, to);
        require(amountOut >= amountOutMin, "INSUFFICIENT_OUTPUT_AMOUNT");
    }

    function swapExactETHForTokens(uint256 amountOutMin, address[] calldata path, address to, uint256 deadline)
        external payable returns (uint256 amountOut)
    {
        require(block.timestamp <= deadline, "EXPIRED");
        require(path[0] == WETH, "INVALID_PATH");
        address pair = UniswapV2Factory(factory).getPair(path[0], path[1]);
        IWETH(WETH).deposit{value: msg.value}();
        IERC20(WETH).transfer(pair, msg.value);
        amountOut = _swap(pair, path[0], path[1], msg.value, to);
        require(amountOut >= amountOutMin, "INSUFFICIENT_OUTPUT_AMOUNT");
    }

    function _swap(address pair, address tokenIn, address tokenOut, uint256 amountIn, address to) private returns (uint256 out) {
        (uint112 r0, uint112 r1,) = UniswapV2Pair(pair).getReserves();
        bool zeroIn = tokenIn < tokenOut;
        (uint256 rIn, uint256 rOut) = zeroIn ? (uint256(r0), uint256(r1)) : (uint256(r1), uint256(r0));
        out = getAmountOut(amountIn, rIn, rOut);
        (uint256 o0, uint256 o1) = zeroIn ? (uint256(0), out) : (out, uint256(0));
        UniswapV2Pair(pair).swap(o0, o1, to);
    }
}
