"""A software prefetch for Numba kernels: ``prefetch(a, i)`` asks the CPU to bring the cache line
holding ``a[i]`` (a 1-D array) closer, without waiting for it and without any effect on results.

The search engine (:mod:`dscref._kernels.engine`) reads each probe's table rows and codes from
places no hardware prefetcher can guess (a different 2 MiB pair table per DSC partition); it
asks for the next probe's while it scans the current one. LLVM's ``llvm.prefetch`` intrinsic
(read, high locality, data cache), emitted inline; on a CPU without a prefetch instruction LLVM
drops it.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, idx):
    """Prefetch the cache line of ``arr[idx]`` (1-D array, integer index in range)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i32, i8p = ir.IntType(32), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen
