package symbols_test

import (
	"fmt"

	"github.com/agent-ctl/agent-ctl/worker/symbols"
)

func ExampleDemangle() {
	fmt.Println(symbols.Demangle("_ZN5rtrap6divide17h415405028e637989E")) // Rust, legacy
	fmt.Println(symbols.Demangle("_RNvCsek0ja229IoD_5rtrap6divide"))      // Rust, v0
	fmt.Println(symbols.Demangle("_ZNK3foo3BarIiE3getEv"))                // C++
	fmt.Println(symbols.Demangle("divide"))                               // C
	// Output:
	// rtrap::divide
	// rtrap::divide
	// foo::Bar<int>::get
	// divide
}
