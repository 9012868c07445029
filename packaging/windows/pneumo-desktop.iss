; Inno Setup 6 script: Windows installer for the PyInstaller folder dist\pneumo-desktop\.
; UNTESTED: written on Linux, never compiled or run on Windows (see docs/packaging.md).
;
; From the repository root, after `pyinstaller build.spec --noconfirm --clean` on Windows:
;   "%ProgramFiles(x86)%\Inno Setup 6\ISCC.exe" packaging\windows\pneumo-desktop.iss
; Output: dist\pneumo-desktop-<version>-windows-x64-setup.exe
; The version is pyproject.toml's ([project] version, read as an INI key: Windows drops the
; quotes); /DAppVersion=X.Y.Z on the command line overrides it.

#ifndef AppVersion
  #define AppVersion ReadIni(AddBackslash(SourcePath) + "..\..\pyproject.toml", "project", "version", "")
#endif
#if AppVersion == ""
  #error Cannot read the version from pyproject.toml: pass /DAppVersion=X.Y.Z
#endif
#define AppName "Pneumo Desktop"
#define AppExe "pneumo-desktop.exe"
#define Root "..\.."

[Setup]
; AppId identifies the product for upgrades and uninstall: never change it.
AppId={{CD9BDEA5-F612-4189-95C1-599BED47C75B}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Pneumo Desktop maintainers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; Per-machine by default; the user may choose a per-user install (no administrator rights).
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#Root}\dist
OutputBaseFilename=pneumo-desktop-{#AppVersion}-windows-x64-setup
SetupIconFile={#Root}\resources\icon.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
; About 1 GB of files: lzma2 at "normal" keeps compile time reasonable.
Compression=lzma2/normal
SolidCompression=yes
LZMAUseSeparateProcess=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Root}\dist\pneumo-desktop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Chest X-ray pneumonia screening (decision support)"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; The user's own models and settings (%LOCALAPPDATA%\pneumo-desktop, the registry) are kept
; on uninstall on purpose: fine-tuned models are clinical work.
