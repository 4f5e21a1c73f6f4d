# swanpair's AMI: the latest Debian 12 AMI with the release .deb installed and its units
# enabled but not started; each instance brings its config at first boot.
# docs/install.md, "AMI with Packer". Written for Debian 12's packer 1.6.6, which bundles
# amazon-ebs but knows no `required_plugins`, `metadata_options` or `imds_support`: the
# docs say how IMDSv2 is required anyway and what newer Packer adds. No credentials here:
# Packer takes them from the AWS environment.

variable "deb" {
  type        = string
  description = "Path of swanpair_<version>_amd64.deb (npm run package)."
  # The name gives the version. 1.6.6 has no regex(): a full match replaced leaves nothing.
  validation {
    condition     = regex_replace(basename(var.deb), "^swanpair_[0-9][^_]*_amd64[.]deb$", "") == ""
    error_message = "The deb variable must name a release file, swanpair_<version>_amd64.deb."
  }
}

variable "deb_sha256" {
  type        = string
  description = "The .deb's SHA-256 (dist/release/SHA256SUMS), checked on the build instance."
  validation {
    condition     = regex_replace(var.deb_sha256, "^[0-9a-f]{64}$", "") == ""
    error_message = "The deb_sha256 variable must be 64 lowercase hex digits."
  }
}

variable "region" {
  type        = string
  description = "Region to build in; the AMI is registered there."
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Empty: the default VPC."
}

variable "require_imdsv2" {
  type        = bool
  default     = true
  description = "Fail the build if the build instance answers IMDSv1 (docs/install.md)."
}

variable "public_ip" {
  type        = bool
  default     = true
  description = "false: no public IP, Packer connects to the private one (build from inside the VPC)."
}

locals {
  # From the release's file name, so the tags cannot disagree with the package.
  version = regex_replace(basename(var.deb), "^swanpair_(.*)_amd64[.]deb$", "$1")
  stamp   = formatdate("YYYYMMDD-hhmmss", timestamp())
  tags = {
    Name               = "swanpair-${local.version}"
    "swanpair:version" = local.version
    "swanpair:base"    = "{{ .SourceAMIName }}"
  }
}

source "amazon-ebs" "swanpair" {
  region                      = var.region
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  associate_public_ip_address = var.public_ip
  ssh_interface               = var.public_ip ? "public_ip" : "private_ip"
  ssh_username                = "admin"

  source_ami_filter {
    owners      = ["136693071363"] # Debian's cloud team
    most_recent = true
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
  }

  ami_name        = "swanpair-${local.version}-${local.stamp}"
  ami_description = "swanpair ${local.version} on Debian 12; units enabled, config at first boot"
  tags            = local.tags
  snapshot_tags   = local.tags
  run_tags        = { Name = "packer-swanpair-${local.version}" }
}

build {
  sources = ["source.amazon-ebs.swanpair"]

  provisioner "file" {
    source      = var.deb
    destination = "/tmp/swanpair.deb"
  }

  # Until images/install.sh exists: provision.sh installs the .deb itself.
  provisioner "shell" {
    environment_vars = ["DEB_SHA256=${var.deb_sha256}", "REQUIRE_IMDSV2=${var.require_imdsv2}"]
    execute_command  = "sudo env {{ .Vars }} sh {{ .Path }}"
    script           = "${path.root}/provision.sh"
  }
}
