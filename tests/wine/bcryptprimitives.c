/*
 * bcryptprimitives.dll for Wine 8.0, which has none (make test-windows).
 *
 * Go's Windows runtime (1.22 on) gets its random bytes from ProcessPrng in
 * bcryptprimitives.dll and refuses to start without it ("fatal error:
 * bcryptprimitives.dll not found"). Wine added the DLL after 8.0, the
 * version Debian 12 serves. This stand-in is installed only in the test
 * Wine prefix (.cache/wine), never shipped: it forwards to Wine's
 * BCryptGenRandom with the system RNG, which is what ProcessPrng is on
 * Windows. It is Wine's missing part, not agent-ctl's.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
