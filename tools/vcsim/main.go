// Command vcsim starts VMware's vSphere API simulator (govmomi's simulator
// package) on a given address. It exists because the govmomi releases whose
// simulator implements ExportSnapshot (v0.51 and later) no longer ship the vcsim
// command inside the module that `go install` can fetch; this launcher builds the
// same simulator from the pinned library version.
//
// Credentials come from the environment (VCSIM_USERNAME, VCSIM_PASSWORD), never
// from argv. It prints "export GOVC_URL=... GOVC_SIM_PID=..." without credentials
// once it listens, and removes its datastore directories on SIGINT/SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
)

func main() {
	model := simulator.VPX()
	flag.IntVar(&model.Datacenter, "dc", model.Datacenter, "number of datacenters")
	flag.IntVar(&model.Cluster, "cluster", model.Cluster, "number of clusters")
	flag.IntVar(&model.ClusterHost, "host", model.ClusterHost, "number of hosts per cluster")
	flag.IntVar(&model.Host, "standalone-host", model.Host, "number of standalone hosts")
	flag.IntVar(&model.Datastore, "ds", model.Datastore, "number of local datastores")
	flag.IntVar(&model.Machine, "vm", model.Machine, "number of virtual machines per resource pool")
	flag.IntVar(&model.Pool, "pool", model.Pool, "number of resource pools per compute resource")
	flag.IntVar(&model.Folder, "folder", model.Folder, "number of folders")
	flag.BoolVar(&model.Autostart, "autostart", model.Autostart, "power on the model's VMs")
	listen := flag.String("l", "127.0.0.1:8989", "listen address")
	flag.Parse()

	host, port, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("-l %q: %v", *listen, err)
	}
	// Hosts advertise the simulator's address, so NFC lease URLs point back to it.
	esx.HostSystem.Summary.ManagementServerIp = host
	if n, err := strconv.Atoi(port); err == nil && n != 0 {
		esx.HostSystem.Summary.Config.Port = int32(n)
	}

	u := &url.URL{Host: *listen}
	if user := os.Getenv("VCSIM_USERNAME"); user != "" {
		u.User = url.UserPassword(user, os.Getenv("VCSIM_PASSWORD"))
	}
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	model.Service.RegisterEndpoints = true
	model.Service.Listen = u
	model.Service.TLS = new(tls.Config)
	server := model.Service.NewServer()

	shown := *server.URL
	shown.User = nil
	fmt.Printf("export GOVC_URL=%s GOVC_SIM_PID=%d\n", shown.String(), os.Getpid())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	server.Close()
	model.Remove()
}
