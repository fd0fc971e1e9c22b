<#
.SYNOPSIS
Installs hostcri on a Windows node as the service "hostcri" and starts it.

.DESCRIPTION
Copies hostcri.exe and hostcri-monitor.exe from -SourceDir to -InstallDir, writes the
configuration file (unless it exists and -Force is not given), checks it with
"hostcri.exe config check", registers the service with "hostcri.exe --register-service --config
FILE" (automatic start, LocalSystem, restart on failure), starts it, and waits until it reports
Running. A service "hostcri" that exists already is stopped and unregistered first, so the
script also upgrades an installation. Run it from an elevated PowerShell (Administrator).

.EXAMPLE
.\install.ps1 -SourceDir C:\Users\admin\Downloads\hostcri
#>
[CmdletBinding()]
param(
    # Folder with hostcri.exe and hostcri-monitor.exe (default: this script's folder).
    [string]$SourceDir = $PSScriptRoot,
    # Folder the programs are copied to.
    [string]$InstallDir = "$env:ProgramFiles\hostcri",
    # The configuration file the service reads.
    [string]$ConfigFile = "$env:ProgramData\hostcri\config.yaml",
    # The template written to ConfigFile (default: config.yaml beside this script).
    [string]$ConfigTemplate = (Join-Path $PSScriptRoot 'config.yaml'),
    # Replace an existing ConfigFile with the template.
    [switch]$Force,
    # Seconds to wait for the service to report Running.
    [int]$StartTimeoutSeconds = 120
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$serviceName = 'hostcri'

function Assert-Administrator {
    $principal = New-Object Security.Principal.WindowsPrincipal(
        [Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'install.ps1 must run in an elevated PowerShell (Run as Administrator).'
    }
}

# Runs hostcri.exe with the given arguments and throws when it exits non-zero.
function Invoke-Hostcri {
    param([string]$Exe, [string[]]$Arguments)
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE"
    }
}

function Remove-ExistingService {
    param([string]$Exe)
    if (-not (Get-Service -Name $serviceName -ErrorAction SilentlyContinue)) {
        return
    }
    Write-Host "Stopping and unregistering the existing service $serviceName"
    if (Test-Path $Exe) {
        # Stops the service (it drains its calls first) and deletes it.
        Invoke-Hostcri $Exe @('--unregister-service')
    } else {
        Stop-Service -Name $serviceName -ErrorAction SilentlyContinue
        & sc.exe delete $serviceName | Out-Null
    }
}

function Copy-Programs {
    foreach ($program in 'hostcri.exe', 'hostcri-monitor.exe') {
        $source = Join-Path $SourceDir $program
        if (-not (Test-Path $source)) {
            throw "$source not found: give the folder with the built programs in -SourceDir"
        }
    }
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    foreach ($program in 'hostcri.exe', 'hostcri-monitor.exe') {
        Copy-Program (Join-Path $SourceDir $program) (Join-Path $InstallDir $program)
    }
    Write-Host "Copied hostcri.exe and hostcri-monitor.exe to $InstallDir"
}

# Copies one program. The monitors of running containers outlive the service and keep
# hostcri-monitor.exe open, which blocks overwriting it but not renaming it, so a locked file
# is renamed to <name>.old and the new one copied beside it.
function Copy-Program {
    param([string]$Source, [string]$Destination)
    Remove-Item -Force -Path "$Destination.old" -ErrorAction SilentlyContinue
    try {
        Copy-Item -Force -Path $Source -Destination $Destination
    } catch {
        Write-Host "$Destination is in use: renaming it to $Destination.old"
        Move-Item -Force -Path $Destination -Destination "$Destination.old"
        Copy-Item -Force -Path $Source -Destination $Destination
    }
}

function Write-Config {
    param([string]$Exe)
    New-Item -ItemType Directory -Force -Path (Split-Path -Parent $ConfigFile) | Out-Null
    if ((Test-Path $ConfigFile) -and -not $Force) {
        Write-Host "Keeping the existing $ConfigFile (use -Force to replace it)"
    } elseif (Test-Path $ConfigTemplate) {
        Copy-Item -Force -Path $ConfigTemplate -Destination $ConfigFile
        Write-Host "Wrote $ConfigFile from $ConfigTemplate"
    } else {
        # No template: every option at its Windows default, as commented YAML.
        & $Exe config default | Set-Content -Encoding UTF8 -Path $ConfigFile
        Write-Host "Wrote $ConfigFile from hostcri.exe config default"
    }
    Invoke-Hostcri $Exe @('config', 'check', $ConfigFile)
}

function Wait-ServiceRunning {
    $deadline = (Get-Date).AddSeconds($StartTimeoutSeconds)
    while ((Get-Date) -lt $deadline) {
        $service = Get-Service -Name $serviceName
        if ($service.Status -eq 'Running') {
            return
        }
        if ($service.Status -eq 'Stopped') {
            throw "service $serviceName stopped during start-up: see its log file (log_file in $ConfigFile; by default C:\ProgramData\hostcri\run\hostcri.log)"
        }
        Start-Sleep -Seconds 1
    }
    throw "service $serviceName is not Running after $StartTimeoutSeconds s"
}

Assert-Administrator
$exe = Join-Path $InstallDir 'hostcri.exe'
Remove-ExistingService $exe
Copy-Programs
Write-Config $exe
Invoke-Hostcri $exe @('--register-service', '--config', $ConfigFile)
Start-Service -Name $serviceName
Wait-ServiceRunning
Write-Host "hostcri is running. Point the kubelet at it with --container-runtime-endpoint=npipe:////./pipe/hostcri"
