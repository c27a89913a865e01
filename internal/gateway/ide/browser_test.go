package ide_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/textkit/customers/internal/gateway/ide"
	"github.com/textkit/customers/internal/stacktest"
	"github.com/textkit/customers/internal/testenv"
	"github.com/textkit/customers/internal/vault/vaulttest"
)

func TestMain(m *testing.M) { os.Exit(vaulttest.Main(m)) }

// In a real headless browser (Debian's chromium) against the whole stack:
// the page loads, the docs' register example is picked from the menu and
// run with a partner key, and the page shows the gateway's answer.
func TestBrowserRunsTheDocsRegisterExample(t *testing.T) {
	browser := testenv.Binary(t, "chromium")
	s := stacktest.Start(t, stacktest.Options{})
	// The IDE and /graphql on one origin, as the gateway serves them.
	api, err := url.Parse(s.Gateway.URL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/graphql", httputil.NewSingleHostReverseProxy(api))
	mux.Handle("GET "+ide.Path, ide.Handler())
	site := httptest.NewServer(mux)
	defer site.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox, // as root in a container
		chromedp.Flag("headless", "new"),
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), // the whole page in view, so a click lands on the button
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	err = chromedp.Do(ctx,
		chromedp.Navigate(site.URL+ide.Path),
		chromedp.WaitVisible(chromedp.ID("run")),
		// the menu fills itself from examples.json
		chromedp.WaitReady(chromedp.CSS(`#examples option[value="0"]`)),
		chromedp.SetValue(chromedp.ID("examples"), "0"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("examples").dispatchEvent(new Event("change")), undefined`),
		chromedp.SendKeys(chromedp.ID("authorization"), "Bearer "+s.PartnerKey),
		chromedp.Click(chromedp.ID("run")),
		chromedp.Poll[chromedp.Void](`document.getElementById("result").textContent.includes("registerCustomer")`),
	)
	text := func(sel string) string {
		v, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID(sel)))
		if err != nil {
			t.Fatalf("read #%s: %v", sel, err)
		}
		return v
	}
	result, status := text("result"), text("status")
	if err != nil {
		t.Fatalf("browser: %v (result %q, status %q)", err, result, status)
	}
	hint := text("key-hint")
	query, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID("query")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hint, ".data/api-key") {
		t.Errorf("key hint %q does not say where the dev key is", hint)
	}
	if query != testenv.DocsExamples(t)[0] {
		t.Errorf("the register example put %q in the editor", query)
	}
	if !strings.Contains(status, "200") {
		t.Errorf("status %q, want 200", status)
	}
	compact := strings.Join(strings.Fields(result), "")
	if compact != `{"data":{"registerCustomer":{"userErrors":[]}}}` {
		t.Fatalf("the page shows %s, want the registration's answer", result)
	}
}
